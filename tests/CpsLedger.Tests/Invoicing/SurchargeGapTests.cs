using System.Net;
using CpsLedger.Api.Invoicing;
using CpsLedger.Api.Operations;
using CpsLedger.Api.Platform;
using CpsLedger.Tests.Harness;
using CpsLedger.Tests.Products;
using Marten;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Wolverine.Runtime;

namespace CpsLedger.Tests.Invoicing;

/// <summary>
/// An invoice is issued in its term's currency, which may be an earlier tier table's: a bank-transfer surcharge setting removed for
/// that currency stops the start, and a node that meets the gap anyway issues nothing and says which setting is missing.
/// </summary>
public sealed class SurchargeGapTests(LedgerApp app) : LedgerTest(app)
{
    private const string ItalyInEuros = "Invoicing:BankTransferSurcharges:IT:EUR";

    private HttpClient Finance => App.ClientAs(LedgerRoles.Finance);

    /// <summary>
    /// The running service without the Italian surcharge in euros, as a node whose settings lack it (the start check of a node reads
    /// its own settings; another node's may differ), until disposed.
    /// </summary>
    private IDisposable WithoutItalyInEuros()
    {
        var amounts = App.Services.GetRequiredService<IOptions<InvoicingOptions>>().Value.BankTransferSurcharges["IT"];
        var amount = amounts["EUR"];
        amounts.Remove("EUR");
        return new Restore(() => amounts["EUR"] = amount);
    }

    private sealed class Restore(Action restore) : IDisposable
    {
        public void Dispose() => restore();
    }

    private async Task<int> Count(string eventType)
    {
        await using var session = App.Store.QuerySession();
        return await session.Events.QueryAllRawEvents().Where(e => e.EventTypeName == eventType).CountAsync();
    }

    [Fact]
    public async Task The_service_does_not_start_while_a_term_is_still_invoiced_in_a_currency_a_surcharge_lacks_naming_the_setting()
    {
        // A host of its own schema, stopped and started again: never two hosts on one schema at the same time.
        var schema = $"cpsledger_surcharge_{Guid.NewGuid():N}"[..30];
        WebApplicationFactory<Program> Host(bool withoutItalyInEuros) => App.WithWebHostBuilder(b =>
        {
            b.UseSetting("Ledger:SchemaName", schema);
            // The operator removed the euro amount from the settings (the tier table is in pounds by then).
            if (withoutItalyInEuros)
                b.ConfigureServices(s => s.PostConfigure<InvoicingOptions>(o => o.BankTransferSurcharges["IT"].Remove("EUR")));
        });
        try
        {
            await using (var before = Host(withoutItalyInEuros: false))
            {
                // An Italian member on the euro table; finance then prices the tiers in pounds (every surcharge country has pounds).
                await Billing.ListThousandPointModel(before.Services.GetRequiredService<IDocumentStore>());
                await Billing.JoinedAccount(App, before.CreateClient(), before.Services, "IT", "bank_transfer");
                var finance = before.Client(App, LedgerRoles.Finance);
                await (await finance.PutJson("/api/tiers", Billing.TierTableInPounds())).ShouldBe(HttpStatusCode.OK);
            }

            // The table in force is in pounds, but the term is in euros: its invoice, a renewal invoiced ahead on it, an upgrade's
            // difference or a corrected invoice would need the euro amount the settings no longer state.
            await using var after = Host(withoutItalyInEuros: true);
            var refused = Assert.ThrowsAny<Exception>(() => after.Server);
            var message = Innermost(refused).Message;
            Assert.Contains(ItalyInEuros, message);
            Assert.Contains("EUR", message);
            Assert.DoesNotContain("Invoicing:BankTransferSurcharges:PT", message);
        }
        finally
        {
            await ServiceProcess.DropSchemaAsync(App, schema);
        }
    }

    [Fact]
    public async Task The_start_check_asks_for_a_currency_an_earlier_table_had_only_while_a_term_is_priced_in_it()
    {
        // The settings of a node that has the pounds of ES and PT, and no pounds for IT.
        var withoutItalyInPounds = new InvoicingOptions
        {
            BankTransferSurcharges = new(StringComparer.OrdinalIgnoreCase)
            {
                ["IT"] = new() { ["EUR"] = 2.00m },
                ["PT"] = new() { ["EUR"] = 1.50m, ["GBP"] = 1.30m },
                ["ES"] = new() { ["EUR"] = 1.00m, ["GBP"] = 0.85m },
            },
        };
        async Task<string?> Gap()
        {
            await using var session = App.Store.QuerySession();
            return await Api.Tiers.TierTableDefaults.SurchargeGapAsync(session, withoutItalyInPounds, CancellationToken.None);
        }

        // A table in pounds came and went before anyone joined on it: nothing is invoiced in pounds, nothing is asked for.
        await App.PublishTierTable(Billing.TierTableInPounds());
        Assert.Contains("Invoicing:BankTransferSurcharges:IT:GBP", await Gap());
        await App.PublishTierTable(Billing.TierTableInEuros());
        Assert.Null(await Gap());

        // A member's renewal proposed on the next table in pounds, which finance then withdraws again: the renewal is still invoiced in
        // pounds (its term the only one priced in them), so the start asks for the pounds of IT.
        await App.BankMemberOwingInEurosAndPounds();
        await App.PublishTierTable(Billing.TierTableInEuros());
        var gap = await Gap();
        Assert.NotNull(gap);
        Assert.Contains("Membership terms priced in GBP", gap);
        Assert.Contains("Invoicing:BankTransferSurcharges:IT:GBP", gap);
        Assert.DoesNotContain("tier table in force", gap);
        Assert.DoesNotContain("PT:GBP", gap);
    }

    private static Exception Innermost(Exception e) => e switch
    {
        AggregateException { InnerExceptions.Count: 1 } a => Innermost(a.InnerExceptions[0]),
        { InnerException: { } inner } => Innermost(inner),
        _ => e,
    };

    [Fact]
    public async Task A_replacement_that_meets_a_missing_surcharge_answers_503_naming_the_setting_and_writes_nothing()
    {
        var (account, member) = await App.MemberWithItsJoiningInvoice("IT", "bank_transfer");
        var invoice = await member.SingleInvoice(account);
        Assert.Equal("EUR", invoice.Currency);
        await Finance.PostJson($"/api/accounts/{account}/invoices/{invoice.InvoiceNumber}/cancellation",
            new { reason = "Issued to the wrong address" }).ReadAs<InvoiceCancellation>(HttpStatusCode.Created);
        var url = $"/api/accounts/{account}/invoices/{invoice.InvoiceNumber}/replacement";

        using (WithoutItalyInEuros())
        {
            var refused = await Finance.PostJson(url, new { reason = "Reissued to the right address" }, Guid.NewGuid().ToString())
                .ReadProblem(HttpStatusCode.ServiceUnavailable);
            Assert.Contains(ItalyInEuros, refused.Detail);
            Assert.Contains("Nothing was written", refused.Detail);
        }

        // Nothing written: no invoice, no number taken, the cancelled invoice not marked replaced.
        Assert.Equal(1, await Count("invoice_issued"));
        Assert.Equal(0, await Count("invoice_replaced"));
        var cancelled = Assert.Single(await member.Invoices(account));
        Assert.Null(cancelled.ReplacedBy);

        // The setting back (a restart, in production): the same request issues the replacement, with the next number of the series.
        var replacement = await App.Tracked(() => Finance.PostJson(url, new { reason = "Reissued to the right address" })
            .ReadAs<InvoiceReplacement>(HttpStatusCode.Created));
        Assert.Equal(invoice.InvoiceNumber[..^6] + "000002", replacement.InvoiceNumber);
    }

    [Fact]
    public async Task An_invoice_that_meets_a_missing_surcharge_is_dead_lettered_at_once_naming_the_setting_and_issued_when_replayed()
    {
        await Billing.ListThousandPointModel(App.Store);
        var account = await App.JoinedAccount("IT", "bank_transfer");
        var member = App.Member(account);
        var support = App.ClientAs(LedgerRoles.Support);

        var logs = App.Logs.Mark();
        DeadLetter letter;
        using (WithoutItalyInEuros())
        {
            await App.FastForward(Billing.IssueDelay);
            await FaultWaits.Until(async () => (await support.GetAsync("/api/operations/dead-letters").ReadAs<DeadLetterPage>()).Total == 1,
                "the invoice dead-lettered");
            letter = Assert.Single((await support.GetAsync("/api/operations/dead-letters").ReadAs<DeadLetterPage>()).DeadLetters);
        }

        Assert.EndsWith(nameof(IssueInvoice), letter.MessageType);
        Assert.Contains(ItalyInEuros, letter.ExceptionMessage);
        // Retrying cannot help: the settings are read at start, so the first failure is the dead letter, not hours of retries.
        var reported = Assert.Single(App.Logs.Since(logs), e => e.MessageTemplate.Text.StartsWith("Dead letter:", StringComparison.Ordinal));
        Assert.Equal("1", reported.Properties["Attempts"].ToString());
        Assert.Empty(await member.Invoices(account));

        // The setting back (a restart, in production), the dead letter replayed: the invoice is issued, with its surcharge.
        await App.TrackedUntilHandled<IssueInvoice>(1, async () => await support
            .PostJson("/api/operations/dead-letters/replay", new { ids = new[] { letter.Id } }).ReadAs<DeadLetterAction>(HttpStatusCode.Accepted));
        var issued = await member.SingleInvoice(account);
        Assert.Equal(("EUR", "Bank transfer surcharge (IT)"), (issued.Currency, issued.Lines[1].Description));
        Assert.Equal(0, (await App.Services.GetRequiredService<IWolverineRuntime>().Storage.Admin.FetchCountsAsync()).DeadLetter);
    }
}
