using System.Collections.Concurrent;
using CpsLedger.Api.Invoicing;
using CpsLedger.Api.Platform;
using CpsLedger.Tests.Harness;
using CpsLedger.Tests.Invoicing;
using Marten;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.DependencyInjection;

namespace CpsLedger.Tests.Platform;

/// <summary>
/// A test seam belongs to one host (<see cref="TestSeams"/>): the tests run two hosts in one process at a time, and a seam one
/// host's test sets must not fire for the other host's work.
/// </summary>
public sealed class TestSeamTests(LedgerApp app) : LedgerTest(app)
{
    [Fact]
    public async Task A_seam_set_on_one_host_fires_for_that_hosts_work_only_not_for_another_hosts_in_the_same_process()
    {
        // A second host of the harness, on a schema of its own (never two hosts on one schema at a time).
        var schema = $"cpsledger_seams_{Guid.NewGuid():N}"[..30];
        await using var other = App.WithWebHostBuilder(b => b.UseSetting("Ledger:SchemaName", schema));
        var passedOnOther = new ConcurrentQueue<string>();
        var passedOnThis = new ConcurrentQueue<string>();
        // The other host's seams first, then this one's: were the seams one set for the process, this host's would be the ones left.
        Record(other.Services, passedOnOther);
        Record(App.Services, passedOnThis);
        try
        {
            // The other host issues an invoice, e-mails it, and charges the card on its due date.
            await Billing.ListThousandPointModel(other.Services.GetRequiredService<IDocumentStore>());
            var account = await Billing.JoinedAccount(App, other.CreateClient(), other.Services, "EE", "card", SandboxPaymentGateway.Approve);
            await Billing.FastForward(App, other.Services, Billing.IssueDelay);
            await Billing.FastForward(App, other.Services, TimeSpan.FromDays(30));
            var invoice = await other.Client(App, LedgerRoles.Member, account).SingleInvoice(account);
            Assert.Equal(InvoiceStatus.Paid, invoice.Status);
        }
        finally
        {
            Clear(App.Services);
        }

        Assert.Empty(passedOnThis);
        Assert.Equal(new[] { "invoice issued", "card presented", "gateway answered" },
            passedOnOther.Where(step => step != "e-mail claimed").Distinct());
        Assert.Contains("e-mail claimed", passedOnOther);
    }

    private static void Record(IServiceProvider services, ConcurrentQueue<string> passed)
    {
        services.GetRequiredService<InvoiceIssueTestSeam>().BeforeIssueCommits = _ => Passed(passed, "invoice issued");
        services.GetRequiredService<ChargeCardTestSeam>().BeforeGatewayCalled = _ => Passed(passed, "card presented");
        services.GetRequiredService<ChargeCardTestSeam>().AfterGatewayAnswered = _ => Passed(passed, "gateway answered");
        services.GetRequiredService<MailDeliveryTestSeam>().AfterClaim = _ => passed.Enqueue("e-mail claimed");
    }

    private static Task Passed(ConcurrentQueue<string> passed, string step)
    {
        passed.Enqueue(step);
        return Task.CompletedTask;
    }

    private static void Clear(IServiceProvider services)
    {
        services.GetRequiredService<InvoiceIssueTestSeam>().BeforeIssueCommits = null;
        services.GetRequiredService<ChargeCardTestSeam>().BeforeGatewayCalled = null;
        services.GetRequiredService<ChargeCardTestSeam>().AfterGatewayAnswered = null;
        services.GetRequiredService<MailDeliveryTestSeam>().AfterClaim = null;
    }
}
