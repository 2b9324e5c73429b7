using System.Net;
using CpsLedger.Api.Platform;
using CpsLedger.Tests.Harness;

namespace CpsLedger.Tests.Accounts;

/// <summary>Test data and the one call most tests start with.</summary>
public static class Accounts
{
    public static object Opening(string email = "studio@example.ee", string company = "Valgus Studio OÜ", string country = "EE",
        string[]? oldEmails = null) =>
        new { companyName = company, contactEmail = email, country, oldCpsEmails = oldEmails ?? [] };

    public static async Task<Guid> OpenAccount(this LedgerApp app, string email = "studio@example.ee", string[]? oldEmails = null)
    {
        var opened = await app.ClientAs(LedgerRoles.Portal).PostJson("/api/accounts", Opening(email, oldEmails: oldEmails))
            .ReadAs<CpsLedger.Api.Accounts.BusinessAccountCreated>(HttpStatusCode.Created);
        return opened.AccountId;
    }
}
