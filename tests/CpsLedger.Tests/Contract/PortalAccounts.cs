using CpsLedger.Api.Platform;
using CpsLedger.Tests.Contract.Generated;
using CpsLedger.Tests.Harness;

namespace CpsLedger.Tests.Contract;

/// <summary>An Estonian business account opened as a portal opens one: through the generated client.</summary>
internal static class PortalAccounts
{
    public static async Task<Guid> OpenAccountThroughTheClient(this LedgerApp app, string companyName, string contactEmail) =>
        (await new LedgerClient(app.ClientAs(LedgerRoles.Portal)).OpenBusinessAccountAsync(new OpenBusinessAccount
        {
            CompanyName = companyName,
            ContactEmail = contactEmail,
            Country = "EE",
        })).AccountId;
}
