using JasperFx;
using JasperFx.CodeGeneration;
using Microsoft.AspNetCore.Authorization;
using Wolverine.Http;

namespace CpsLedger.Api.Platform;

/// <summary>
/// Every route that names an <c>{accountId}</c> gets the account-access policy, so "a member reaches only its own
/// account" is enforced in one place for all present and future account routes.
/// </summary>
public sealed class AccountScopePolicy : IHttpPolicy
{
    public void Apply(IReadOnlyList<HttpChain> chains, GenerationRules rules, IServiceContainer container)
    {
        foreach (var chain in chains)
        {
            var scoped = chain.RoutePattern?.Parameters.Any(p =>
                string.Equals(p.Name, AccountAccessHandler.RouteParameter, StringComparison.OrdinalIgnoreCase)) ?? false;
            if (!scoped)
                continue;

            chain.Metadata.WithMetadata(new AuthorizeAttribute { Policy = Auth.AccountAccessPolicy });
            chain.Metadata.ProducesProblem(StatusCodes.Status403Forbidden);
        }
    }
}
