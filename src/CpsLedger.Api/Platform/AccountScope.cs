using CpsLedger.Api.Accounts;
using JasperFx;
using JasperFx.CodeGeneration;
using JasperFx.CodeGeneration.Frames;
using Wolverine;
using Marten;
using Microsoft.AspNetCore.Authorization;
using Wolverine.Attributes;
using Wolverine.Http;
using Marten.Services.BatchQuerying;
using Wolverine.Marten.Requirements;
using Wolverine.Middleware;

namespace CpsLedger.Api.Platform;

/// <summary>
/// Every route that names an <c>{accountId}</c> gets the account-access policy ("a member reaches only its own account")
/// and answers 404 for an account that does not exist, before the endpoint runs: enforced in one place for all present and
/// future account routes. The check runs after the body's validation, so a bad request is a 400 whatever the account.
/// </summary>
public sealed class AccountScopePolicy : IHttpPolicy
{
    public void Apply(IReadOnlyList<HttpChain> chains, GenerationRules rules, IServiceContainer container)
    {
        var require = typeof(AccountExistence).GetMethod(nameof(AccountExistence.Require))!;
        var lockThenRequire = typeof(Membership.InvitationReviewLock).GetMethod(nameof(Membership.InvitationReviewLock.ThenAccountExistsAsync))!;
        foreach (var chain in chains)
        {
            var scoped = chain.RoutePattern?.Parameters.Any(p =>
                string.Equals(p.Name, AccountAccessHandler.RouteParameter, StringComparison.OrdinalIgnoreCase)) ?? false;
            var takesReviewLock = chain.Method.Method.IsDefined(typeof(Membership.TakesInvitationReviewLockAttribute), inherit: false);
            if (!scoped && takesReviewLock)
                throw new InvalidOperationException($"Route {chain.RoutePattern?.RawText}: the invitation review lock needs an {{accountId}} route.");
            if (!scoped)
                continue;

            chain.Metadata.WithMetadata(new AuthorizeAttribute { Policy = Auth.AccountAccessPolicy });
            chain.Metadata.ProducesProblem(StatusCodes.Status403Forbidden);

            chain.Metadata.ProducesProblem(StatusCodes.Status404NotFound);
            // A read that runs one batched query of its own checks the account in that batch (one round trip, not two).
            if (chain.Method.Method.IsDefined(typeof(ChecksAccountInItsBatchAttribute), inherit: false))
            {
                if (chain.HttpMethods.Any(m => m != HttpMethods.Get))
                    throw new InvalidOperationException($"Route {chain.RoutePattern!.RawText}: only a GET may check the account in its own batch.");
                continue;
            }

            if (!chain.TryFindVariable(AccountAccessHandler.RouteParameter, ValueSource.RouteValue, typeof(Guid), out var accountId))
                throw new InvalidOperationException($"Route {chain.RoutePattern!.RawText}: {{accountId}} must be a Guid.");
            // A Marten data requirement: Wolverine checks it in the same batched query as the aggregate and documents the
            // endpoint loads, so the check costs no round trip of its own where the endpoint reads anything else.
            // An endpoint that takes the account's invitation review lock takes it in the same requirement, ahead of the check.
            var call = takesReviewLock
                ? new MethodCall(typeof(Membership.InvitationReviewLock), lockThenRequire) { Arguments = { [1] = accountId } }
                : new MethodCall(typeof(AccountExistence), require) { Arguments = { [0] = accountId } };
            if (!rules.TryFindContinuationHandler(chain, call, out var check) || check is null)
                throw new InvalidOperationException("Wolverine.Marten's data requirement continuation is not registered.");
            chain.Middleware.InsertRange(0, [call, check]);
        }
    }
}

public static class AccountExistence
{
    public static IMartenDataRequirement Require(Guid accountId) => new AccountMustExist(accountId);

    /// <summary>
    /// For an endpoint marked <see cref="ChecksAccountInItsBatchAttribute"/>: adds the account's existence to the endpoint's
    /// batched query; <see cref="EnsureAsync"/> after the batch has run answers 404 for an account that does not exist.
    /// </summary>
    public static Task<AccountView?> In(IBatchedQuery batch, Guid accountId) => batch.Load<AccountView>(accountId);

    public static async Task EnsureAsync(Task<AccountView?> account, Guid accountId)
    {
        // Loaded by id rather than asked with Any(): a load's SQL is built once, a LINQ query is parsed on every call.
        if (await account is null)
            throw new AccountNotFoundException(accountId);
    }
}

/// <summary>
/// On an <c>{accountId}</c> endpoint that reads everything in one batched query of its own: the endpoint adds the account's
/// existence to that batch (<see cref="AccountExistence.In"/>) and answers 404 itself, instead of
/// <see cref="AccountScopePolicy"/> checking it in a round trip before the endpoint runs. Reads only: a command must not
/// decide anything before the account is known to exist.
/// </summary>
[AttributeUsage(AttributeTargets.Method)]
public sealed class ChecksAccountInItsBatchAttribute : Attribute;

/// <summary>The account of an <c>{accountId}</c> route exists; checked in Wolverine's batched query before the endpoint runs.</summary>
public sealed class AccountMustExist(Guid accountId) : IMartenDataRequirement
{
    private Task<AccountView?>? _account;

    public void RegisterInBatch(IBatchedQuery query) => _account = AccountExistence.In(query, accountId);

    public Task CheckFromBatch(ILogger logger) =>
        AccountExistence.EnsureAsync(_account ?? throw new InvalidOperationException("The account check ran before its batch."), accountId);

    public async Task CheckAsync(IDocumentSession session, ILogger logger, CancellationToken cancellation)
    {
        if (!await session.CheckExistsAsync<AccountView>(accountId, cancellation))
            throw new AccountNotFoundException(accountId);
    }
}

/// <summary>Answered with 404 and <see cref="Problems.AccountNotFound"/> (<see cref="LedgerExceptionHandler"/>).</summary>
public sealed class AccountNotFoundException(Guid accountId) : Exception($"There is no business account {accountId}.");

/// <summary>
/// Tags every endpoint with its feature (the last part of its namespace), so the OpenAPI document and the interactive docs
/// group operations the way the folders do. An endpoint that carries its own <c>[Tags]</c> keeps them.
/// </summary>
public sealed class FeatureTagsPolicy : IHttpPolicy
{
    // Where the document's group name is not the folder's.
    private static readonly Dictionary<string, string> Names = new(StringComparer.Ordinal) { ["Invoicing"] = "Invoices" };

    public void Apply(IReadOnlyList<HttpChain> chains, GenerationRules rules, IServiceContainer container)
    {
        foreach (var chain in chains)
        {
            var endpoint = chain.Method.Method;
            if (endpoint.GetCustomAttributes(typeof(TagsAttribute), true).Length > 0
                || endpoint.DeclaringType?.GetCustomAttributes(typeof(TagsAttribute), true).Length > 0)
                continue;
            var feature = chain.Method.HandlerType.Namespace?.Split('.').Last();
            if (feature is null || feature == "Api")
                continue;
            chain.Metadata.WithTags(Names.GetValueOrDefault(feature, feature));
        }
    }
}
