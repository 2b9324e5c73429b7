using System.Net;
using CpsLedger.Api.Platform;
using CpsLedger.Tests.Accounts;
using CpsLedger.Tests.Harness;
using CpsLedger.Tests.Migration;
using CpsLedger.Tests.Products;

namespace CpsLedger.Tests.Platform;

/// <summary>
/// An account that does not exist is a 404 problem on every operation that names one, whatever the caller's role, with a body
/// the operation would otherwise accept (so that it is the account, not the body, that is refused); nothing is written.
/// </summary>
public sealed class UnknownAccountTests(LedgerApp app) : LedgerTest(app)
{
    [Fact]
    public async Task Operations_on_an_account_that_does_not_exist_answer_404_and_write_nothing()
    {
        var unknown = Guid.NewGuid();
        var member = App.Member(unknown);
        var support = App.ClientAs(LedgerRoles.Support);
        var eventsBefore = await App.CountEvents();

        var answers = new[]
        {
            await member.GetAsync($"/api/accounts/{unknown}/billing-details"),
            await member.PutJson($"/api/accounts/{unknown}/billing-details",
                new { address = new { street = "Narva mnt 5", postalCode = "10117", city = "Tallinn", country = "EE" }, vatId = (string?)null }),
            await member.GetAsync($"/api/accounts/{unknown}/migration"),
            // The three reads that check the account in their own batched query rather than before the endpoint.
            await member.GetAsync($"/api/accounts/{unknown}/summary"),
            await member.GetAsync($"/api/accounts/{unknown}/points-explanation"),
            await member.GetAsync($"/api/accounts/{unknown}/eligible-tiers"),
            await member.PostJson($"/api/accounts/{unknown}/old-cps-emails/verification", new { email = "old@old.example", code = "12345678" }),
            await member.PostJson($"/api/accounts/{unknown}/membership", new { tier = "gold", paymentMethod = "card" }),
            await member.PutJson($"/api/accounts/{unknown}/membership/renewal", new { renew = true, tier = "gold" }),
            await member.PostJson($"/api/accounts/{unknown}/membership/upgrade", new { tier = "platinum" }),
            await support.PostJson($"/api/accounts/{unknown}/membership/cancellation", new { reason = "Company closed (ticket CPS-9)", ticketReference = "CPS-SUP-4711" }),
            await support.PostJson($"/api/accounts/{unknown}/old-cps-emails", new { email = "old@old.example", reason = "Ticket 4711", ticketReference = "CPS-SUP-1" }),
            await App.ClientAs(LedgerRoles.Auditor).GetAsync($"/api/audit/verification?accountId={unknown}"),
        };

        foreach (var answer in answers)
            Assert.Equal(Problems.AccountNotFound.Title, (await answer.ReadProblem(HttpStatusCode.NotFound)).Title);
        Assert.Equal(eventsBefore, await App.CountEvents());
    }

    [Fact]
    public async Task An_invoice_the_account_does_not_have_answers_404_in_every_format()
    {
        var account = await App.OpenAccount();
        var member = App.Member(account);

        await (await member.GetAsync($"/api/accounts/{account}/invoices/INV-1999-000001/ubl")).ShouldBeProblem(HttpStatusCode.NotFound);
    }
}
