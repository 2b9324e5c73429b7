using System.Net;
using CpsLedger.Api.Platform;
using CpsLedger.Tests.Accounts;
using CpsLedger.Tests.Harness;
using CpsLedger.Tests.Products;

namespace CpsLedger.Tests.Platform;

/// <summary>Each problem in a request is one sentence a portal can show, in the ledger's words rather than the library's.</summary>
public sealed class ValidationMessageTests(LedgerApp app) : LedgerTest(app)
{
    private static async Task<string[]> Messages(Task<HttpResponseMessage> response, string field)
    {
        var problem = await response.ReadProblem(HttpStatusCode.BadRequest);
        Assert.True(problem.Errors.TryGetValue(field, out var messages), $"No error for '{field}': {string.Join(", ", problem.Errors.Keys)}");
        return messages;
    }

    [Fact]
    public async Task an_empty_company_name_is_one_problem_in_one_sentence()
    {
        var portal = App.ClientAs(LedgerRoles.Portal);

        var messages = await Messages(portal.PostRaw("/api/accounts",
            """{"companyName":"","contactEmail":"u5@example.com","country":"EE","oldCpsEmails":[]}"""), "companyName");

        Assert.Equal(["Must not be empty or blank."], messages);
    }

    [Theory]
    [InlineData("\u200B")]
    [InlineData(" \u2060\uFEFF ")]
    public async Task a_company_name_of_invisible_characters_only_is_blank(string name)
    {
        // A zero-width space is no white space to .NET, so such a name passed "not blank" and was stored in the append-only
        // log as an account whose name shows as nothing.
        var portal = App.ClientAs(LedgerRoles.Portal);

        var messages = await Messages(portal.PostJson("/api/accounts",
            new { companyName = name, contactEmail = "u6@example.com", country = "EE" }), "companyName");

        Assert.Single(messages);
        Assert.StartsWith("Must not be empty or blank", messages[0]);
    }

    [Fact]
    public async Task an_empty_country_is_not_also_reported_as_an_unknown_code()
    {
        var portal = App.ClientAs(LedgerRoles.Portal);

        var messages = await Messages(portal.PostRaw("/api/accounts",
            """{"companyName":"Valgus OÜ","contactEmail":"u5@example.com","country":""}"""), "country");

        Assert.Equal(["Must not be empty or blank."], messages);
    }

    [Fact]
    public async Task an_empty_street_is_one_problem_in_one_sentence()
    {
        var account = await App.OpenAccount();

        var messages = await Messages(App.Member(account).PutJson($"/api/accounts/{account}/billing-details",
            new { address = new { street = "", postalCode = "1", city = "c", country = "DE" } }), "address.street");

        Assert.Equal(["Must not be empty or blank."], messages);
    }

    [Theory]
    [InlineData("1e30", "Is out of range: far larger (or more precise) than any number a field here takes.")]
    // More digits than a decimal holds: read as such they were rounded (to 1.0000000000000000000000000000, to 0) before any rule
    // saw them, and the first was recorded as a payment of a sum the bank never sent.
    [InlineData("1.000000000000000000000000000001", "Is out of range: far larger (or more precise) than any number a field here takes.")]
    [InlineData("1e-400", "Is out of range: far larger (or more precise) than any number a field here takes.")]
    [InlineData("1.001", "Must have at most 2 decimal places and 18 digits in all.")]
    [InlineData("0", "Must be greater than 0.")]
    public async Task a_bank_transfer_amount_the_ledger_cannot_take_says_why(string amount, string expected)
    {
        var finance = App.ClientAs(LedgerRoles.Finance);

        var messages = await Messages(finance.PostRaw("/api/payments/bank-transfers",
            $$"""{"invoiceNumber":"INV-2026-000003","amount":{{amount}},"currency":"EUR","valueDate":"2026-12-02","bankReference":"B-8"}"""),
            "amount");

        Assert.Equal([expected], messages);
    }
}
