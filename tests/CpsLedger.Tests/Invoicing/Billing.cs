using System.Net;
using System.Net.Http.Headers;
using CpsLedger.Api.Catalogue;
using CpsLedger.Api.Invoicing;
using CpsLedger.Api.Membership;
using CpsLedger.Api.Platform;
using CpsLedger.Tests.Harness;
using CpsLedger.Tests.Products;
using Marten;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace CpsLedger.Tests.Invoicing;

/// <summary>Test steps for invoicing: an account that joined, the clock moved forward with the scheduled work it makes due.</summary>
public static class Billing
{
    public const string Thousand = "M-1000";

    /// <summary>How long after joining its invoice is issued (Invoicing:IssueDelay, two hours under the defaults), and a minute.</summary>
    public static readonly TimeSpan IssueDelay = TimeSpan.FromHours(2) + TimeSpan.FromMinutes(1);

    public static async Task ListThousandPointModel(IDocumentStore store)
    {
        await using var session = store.LightweightSession();
        var id = ProductModelCode.StreamIdFor(Thousand);
        session.Events.StartStream<ProductModelView>(id, new ProductModelListed(id, Thousand, "Model 1000", "cinema_camera", 1000, DateTimeOffset.UtcNow));
        await session.SaveChangesAsync();
    }

    /// <summary>An account in <paramref name="country"/> with 1000 points that joined Gold (EUR 200) paying by <paramref name="method"/>.</summary>
    public static async Task<Guid> JoinedAccount(this LedgerApp app, string country, string method, string? cardToken = null,
        string email = "studio@example.ee", object? billingDetails = null, string company = "Valgus Studio OÜ") =>
        await JoinedAccount(app, app.CreateClient(), app.Services, country, method, cardToken, email, billingDetails, company);

    /// <param name="billingDetails">A body for PUT .../billing-details, set before joining (so the invoice carries it).</param>
    public static async Task<Guid> JoinedAccount(LedgerApp app, HttpClient client, IServiceProvider services, string country, string method,
        string? cardToken = null, string email = "studio@example.ee", object? billingDetails = null, string company = "Valgus Studio OÜ")
    {
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", app.TokenFor(LedgerRoles.Portal));
        var account = (await client.PostJson("/api/accounts", Accounts.Accounts.Opening(email, company, country))
            .ReadAs<CpsLedger.Api.Accounts.BusinessAccountCreated>(HttpStatusCode.Created)).AccountId;

        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", app.TokenFor(LedgerRoles.Member, account));
        // Tracked until the invitation review the points set off has been handled, then, as the portal would, until the
        // invitation shows: in two full-suite runs with two nodes on one database, a join straight after the tracked session
        // was refused as "Not invited" (not reproduced alone; FaultTests). A review that never runs still fails here.
        await services.Tracked(async () => await (await client.PostJson($"/api/accounts/{account}/products",
            Products.Products.Complete($"S-{email.Replace("@", "-")}", Thousand))).ShouldBe(HttpStatusCode.Created));
        await FaultWaits.Until(async () =>
                (await client.GetAsync($"/api/accounts/{account}/membership").ReadAs<AccountMembership>()).Invitation is not null,
            $"account {account} invited", TimeSpan.FromSeconds(30));
        if (cardToken is not null)
            await (await client.PostJson($"/api/accounts/{account}/payment-card", new { cardToken })).ShouldBe(HttpStatusCode.OK);
        if (billingDetails is not null)
            await (await client.PutJson($"/api/accounts/{account}/billing-details", billingDetails)).ShouldBe(HttpStatusCode.OK);
        // Tracked until what joining sets off (the welcome e-mail; the invoice is scheduled for later) has been handled.
        await services.Tracked(async () => await (await client.PostJson($"/api/accounts/{account}/membership",
            new { tier = "gold", paymentMethod = method })).ShouldBe(HttpStatusCode.Created));
        return account;
    }

    /// <summary>
    /// Moves the service's clock forward and runs every scheduled message now (Wolverine fires them by wall-clock time); each
    /// handler checks its due time against the moved clock and schedules itself again if early.
    /// </summary>
    public static Task FastForward(this LedgerApp app, TimeSpan by) => FastForward(app, app.Services, by);

    /// <param name="services">The host whose scheduled messages run (a test may run a second host on its own schema).</param>
    public static async Task FastForward(LedgerApp app, IServiceProvider services, TimeSpan by)
    {
        app.Clock.Advance(by);
        await services.RunScheduledMessagesNow();
    }

    /// <summary>
    /// Moves the service's clock forward and runs only the scheduled messages due by then, as the service left alone would (not
    /// every one, as <see cref="FastForward(LedgerApp, IServiceProvider, TimeSpan)"/> does): a message is due at its wall-clock time
    /// moved by the clock's offset. The others are moved back on the wall clock by as much as the clock moved forward, so that the
    /// next step reads them the same way. Right while every scheduled message was scheduled at the clock's current offset, as
    /// after a <c>FastForward</c> (which has each scheduled again) or this, and not after a bare <c>Clock.Advance</c>.
    /// </summary>
    /// <returns>How many scheduled messages ran.</returns>
    public static async Task<int> FastForwardToWhatIsDue(LedgerApp app, IServiceProvider services, TimeSpan by)
    {
        var offset = app.Clock.GetUtcNow() - DateTimeOffset.UtcNow;
        app.Clock.Advance(by);
        var until = app.Clock.GetUtcNow();
        var schema = ((DocumentStore)services.GetRequiredService<IDocumentStore>()).Options.DatabaseSchemaName;
        var due = new List<Guid>();
        await using var connection = new Npgsql.NpgsqlConnection(app.ConnectionString);
        await connection.OpenAsync();
        await using (var scheduled = new Npgsql.NpgsqlCommand(
                         $"select id, execution_time from {schema}.wolverine_incoming_envelopes where status = 'Scheduled'", connection))
        await using (var reader = await scheduled.ExecuteReaderAsync())
        {
            while (await reader.ReadAsync())
                if (reader.GetFieldValue<DateTimeOffset>(1) + offset <= until)
                    due.Add(reader.GetGuid(0));
        }

        await using (var later = new Npgsql.NpgsqlCommand(
                         $"update {schema}.wolverine_incoming_envelopes set execution_time = execution_time - $1 where status = 'Scheduled' and id <> all($2)",
                         connection)
        { Parameters = { new() { Value = by }, new() { Value = due.ToArray() } } })
            await later.ExecuteNonQueryAsync();
        return await services.RunScheduledMessagesNow(due.ToHashSet());
    }

    /// <summary>Moves the service's clock forward to <paramref name="at"/> (not at all when it is there already), running what is scheduled.</summary>
    public static async Task FastForwardTo(this LedgerApp app, DateTimeOffset at)
    {
        var by = at - app.Clock.GetUtcNow();
        await app.FastForward(by > TimeSpan.Zero ? by : TimeSpan.Zero);
    }

    /// <summary>When a term's renewal is offered under the default Membership:RenewalOfferBefore: 30 days before its end.</summary>
    public static DateTimeOffset OfferAt(MembershipTerm term) => RenewalDecision.EndAt(term) - TimeSpan.FromDays(30);

    /// <summary>A minute after the term's renewal offer: it has been made (and, paying by transfer, its renewal invoice issued).</summary>
    public static Task FastForwardPastTheOffer(this LedgerApp app, MembershipTerm term) => app.FastForwardTo(OfferAt(term) + TimeSpan.FromMinutes(1));

    /// <summary>A minute after the term's end: it has been renewed or has lapsed.</summary>
    public static Task FastForwardPastTheTermEnd(this LedgerApp app, MembershipTerm term) =>
        app.FastForwardTo(RenewalDecision.EndAt(term) + TimeSpan.FromMinutes(1));

    /// <summary>
    /// The tier table finance publishes in the renewal-table tests: Gold replaced by Gold Plus (260.00 EUR at
    /// <paramref name="goldPlusPoints"/> points), Silver raised to 110.00 EUR, Platinum as by default.
    /// </summary>
    public static object TierTableWithoutGold(int goldPlusPoints) => new
    {
        invitationThreshold = 500,
        enterpriseAbovePoints = 2500,
        reason = "Gold replaced by Gold Plus",
        tiers = new object[]
        {
            new { code = "silver", name = "Silver", kind = "standard", pointsRequired = 500, annualFee = 110.00m, currency = "EUR" },
            new { code = "gold_plus", name = "Gold Plus", kind = "standard", pointsRequired = goldPlusPoints, annualFee = 260.00m, currency = "EUR" },
            new { code = "platinum", name = "Platinum", kind = "standard", pointsRequired = 1600, annualFee = 350.00m, currency = "EUR" },
        },
    };

    /// <summary>
    /// A tier table priced in pounds sterling (a later table may price in another currency than the one an open invoice was issued in):
    /// the default standard tiers at their points, Silver 90.00, Gold 180.00, Platinum 310.00 GBP.
    /// </summary>
    public static object TierTableInPounds() => new
    {
        invitationThreshold = 500,
        enterpriseAbovePoints = 2500,
        reason = "Priced in pounds sterling from now on",
        tiers = new object[]
        {
            new { code = "silver", name = "Silver", kind = "standard", pointsRequired = 500, annualFee = 90.00m, currency = "GBP" },
            new { code = "gold", name = "Gold", kind = "standard", pointsRequired = 1000, annualFee = 180.00m, currency = "GBP" },
            new { code = "platinum", name = "Platinum", kind = "standard", pointsRequired = 1600, annualFee = 310.00m, currency = "GBP" },
        },
    };

    /// <summary>The default standard tiers in euros again, at their default fees (a table after <see cref="TierTableInPounds"/>).</summary>
    public static object TierTableInEuros() => new
    {
        invitationThreshold = 500,
        enterpriseAbovePoints = 2500,
        reason = "Priced in euros again",
        tiers = new object[]
        {
            new { code = "silver", name = "Silver", kind = "standard", pointsRequired = 500, annualFee = 100.00m, currency = "EUR" },
            new { code = "gold", name = "Gold", kind = "standard", pointsRequired = 1000, annualFee = 200.00m, currency = "EUR" },
            new { code = "platinum", name = "Platinum", kind = "standard", pointsRequired = 1600, annualFee = 350.00m, currency = "EUR" },
        },
    };

    /// <summary>Finance publishes <paramref name="table"/>, tracked until what it sets off has been handled.</summary>
    public static Task PublishTierTable(this LedgerApp app, object table) =>
        app.Tracked(async () => await (await app.ClientAs(LedgerRoles.Finance).PutJson("/api/tiers", table)).ShouldBe(HttpStatusCode.OK));

    /// <summary>Finance records a transfer paying <paramref name="invoice"/> in full, in its currency, tracked until what it sets off has been handled.</summary>
    public static Task<BankPaymentRecorded> PayInFull(this LedgerApp app, Invoice invoice, string bankReference) =>
        app.Tracked(() => app.ClientAs(LedgerRoles.Finance).PostJson("/api/payments/bank-transfers",
            app.BankPayment(invoice.InvoiceNumber, invoice.Total, bankReference, invoice.Currency)).ReadAs<BankPaymentRecorded>(HttpStatusCode.Created));

    /// <summary>
    /// A transfer paying <paramref name="invoice"/> in full, as the bank-payment endpoint records it, in a session of its own: the
    /// payment, then the membership's lock and the suspension for the invoice lifted if there is one. <paramref name="beforeCommit"/>
    /// runs then, given the session and whether the membership was reinstated; the session commits once it has finished.
    /// </summary>
    public static async Task RecordTransferInItsOwnSession(this LedgerApp app, Invoice invoice, string bankReference,
        Func<IDocumentSession, bool, Task> beforeCommit)
    {
        var options = app.Services.GetRequiredService<IOptions<InvoicingOptions>>().Value;
        var now = app.Clock.GetUtcNow();
        await using var session = app.Store.LightweightSession();
        var stream = await session.Events.FetchForWriting<Invoice>(invoice.Id);
        stream.AppendMany(InvoicePayments.Receive(stream.Aggregate!, Guid.CreateVersion7(), PaymentMethod.BankTransfer,
            stream.Aggregate!.Outstanding, stream.Aggregate.Currency, DateOnly.FromDateTime(now.UtcDateTime), null, bankReference, now));
        var reinstated = await OverdueDecision.ReinstateIfSuspendedAsync(session, stream.Aggregate, options, now, default);
        await beforeCommit(session, reinstated);
        await session.SaveChangesAsync();
    }

    /// <summary>
    /// The thousand-point model listed, and an account in <paramref name="country"/> with 1000 points that joined Gold paying by
    /// <paramref name="method"/> (a card from <paramref name="cardToken"/> recorded first, if given): its joining invoice issued.
    /// </summary>
    public static async Task<(Guid Account, HttpClient Member)> MemberWithItsJoiningInvoice(this LedgerApp app, string country, string method,
        string? cardToken = null)
    {
        await ListThousandPointModel(app.Store);
        var account = await app.JoinedAccount(country, method, cardToken);
        await app.FastForward(IssueDelay);
        return (account, app.Member(account));
    }

    /// <summary>An account in EE with 1000 points on Gold by bank transfer, its joining invoice issued (open).</summary>
    public static async Task<(Guid Account, HttpClient Member, MembershipTerm Term, Invoice Joining)> BankMemberWithItsJoiningInvoice(this LedgerApp app)
    {
        var (account, member) = await app.MemberWithItsJoiningInvoice("EE", "bank_transfer");
        var term = (await member.GetAsync($"/api/accounts/{account}/membership").ReadAs<AccountMembership>()).Membership!;
        return (account, member, term, await member.SingleInvoice(account));
    }

    /// <summary>The same, its joining invoice paid, a minute after its renewal offer: the renewal invoiced ahead (open).</summary>
    public static async Task<(Guid Account, HttpClient Member, MembershipTerm Term, Invoice Joining)> BankMemberOfferedItsRenewal(this LedgerApp app)
    {
        var (account, member, term, joining) = await app.BankMemberWithItsJoiningInvoice();
        await app.PayInFull(joining, "B-1");
        await app.FastForwardPastTheOffer(term);
        return (account, member, term, joining);
    }

    /// <summary>
    /// The same, its joining invoice paid; a day before its renewal offer it upgrades to Platinum (the upgrade's invoice in the term's
    /// euros, due a month later), finance publishes <see cref="TierTableInPounds"/>, and the offer a day later invoices the renewal on
    /// Platinum in pounds: two invoices open, one in EUR and a newer one in GBP.
    /// </summary>
    public static async Task<(Guid Account, HttpClient Member)> BankMemberOwingInEurosAndPounds(this LedgerApp app)
    {
        var (account, member, term, joining) = await app.BankMemberWithItsJoiningInvoice();
        await app.PayInFull(joining, "B-1");
        await app.FastForwardTo(OfferAt(term) - TimeSpan.FromDays(1));
        await app.Tracked(() => member.Register(account, Products.Products.Complete("S-SECOND", Thousand)));
        await app.Tracked(async () => await (await member.PostJson($"/api/accounts/{account}/membership/upgrade", new { tier = "platinum" }))
            .ShouldBe(HttpStatusCode.OK));
        await app.PublishTierTable(TierTableInPounds());
        await app.FastForwardPastTheOffer(term);
        return (account, member);
    }

    public static Task<List<Invoice>> Invoices(this HttpClient client, Guid account) =>
        client.GetAsync($"/api/accounts/{account}/invoices").ReadAs<List<Invoice>>();

    public static async Task<Invoice> SingleInvoice(this HttpClient client, Guid account) => Assert.Single(await client.Invoices(account));

    /// <summary>
    /// Today on the service's clock, as a transfer's value date: the tests move that clock forward, so the real date would be
    /// before the invoice it pays (or, after a year, before the renewal it pays).
    /// </summary>
    public static string ValueDate(this LedgerApp app) => DateOnly.FromDateTime(app.Clock.GetUtcNow().UtcDateTime).ToString("yyyy-MM-dd");

    /// <summary>A transfer paying <paramref name="invoiceNumber"/>, credited today on the service's clock.</summary>
    public static object BankPayment(this LedgerApp app, string invoiceNumber, decimal amount, string bankReference, string currency = "EUR") =>
        new { invoiceNumber, amount, currency, valueDate = app.ValueDate(), bankReference };

    /// <summary>The cards presented for attempts not recorded (yet): what a charge finding its invoice settled asks the gateway about.</summary>
    public static async Task<IReadOnlyList<PresentedCharge>> PresentedCharges(this LedgerApp app)
    {
        await using var session = app.Store.QuerySession();
        return await session.Query<PresentedCharge>().OrderBy(p => p.Id).ToListAsync();
    }

    /// <summary>Card charges not handled: in the durable inbox (to run now, scheduled, retried later) or in the dead letters.</summary>
    public static async Task<long> ChargeCardsInFlight(this LedgerApp app)
    {
        await using var connection = new Npgsql.NpgsqlConnection(app.ConnectionString);
        await connection.OpenAsync();
        await using var count = new Npgsql.NpgsqlCommand(
            $"select (select count(*) from {app.SchemaName}.wolverine_incoming_envelopes where message_type = $1 and status <> 'Handled') " +
            $"+ (select count(*) from {app.SchemaName}.wolverine_dead_letters where message_type = $1)", connection)
        {
            Parameters = { new() { Value = typeof(ChargeCard).FullName! } },
        };
        return (long)(await count.ExecuteScalarAsync())!;
    }

    public static HttpClient Client(this WebApplicationFactory<Program> factory, LedgerApp app, string role, Guid? account = null)
    {
        var client = factory.CreateClient();
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", app.TokenFor(role, account));
        return client;
    }
}
