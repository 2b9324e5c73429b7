using System.Security.Claims;
using Microsoft.AspNetCore.Mvc;
using Wolverine.Http;

namespace CpsLedger.Api.Platform;

/// <summary>
/// The caller as the service sees it: the name its changes are recorded under, and its roles. A client (the console) shows
/// and hides what the roles allow from this, while the endpoints keep deciding for themselves.
/// </summary>
/// <param name="Name">The name the caller's changes are recorded under (the token's <c>sub</c>).</param>
/// <param name="Roles">The caller's roles: <c>member</c>, <c>support</c>, <c>auditor</c>, <c>finance</c>, <c>portal</c>.</param>
/// <param name="AccountId">The account the token is bound to (its <c>account_id</c>): a member reaches only that account's routes
/// (the other roles reach every account's); null when the token names none.</param>
public sealed record CurrentUser(string Name, IReadOnlyList<string> Roles, Guid? AccountId);

public static class CurrentUserEndpoint
{
    [WolverineGet("/api/me", OperationId = "GetCurrentUser")]
    [Tags("Accounts")]
    [EndpointSummary("Who the caller is: the name recorded on its changes, its roles and (for a member) its account")]
    [ProducesResponseType<CurrentUser>(StatusCodes.Status200OK)]
    public static CurrentUser Get(ClaimsPrincipal user) => new(
        user.Identity?.Name ?? "",
        [.. LedgerRoles.All.Where(user.IsInRole)],
        Guid.TryParse(user.FindFirstValue(LedgerClaims.AccountId), out var account) ? account : null);
}
