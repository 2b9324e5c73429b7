using CpsLedger.Api.Accounts;
using CpsLedger.Api.Platform;
using Marten;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Mvc;
using Wolverine.Http;

namespace CpsLedger.Api.Products;

/// <summary>The account's points at a glance: the portal's header and the account-level green tick.</summary>
/// <param name="Products">Registered products (deregistered ones not counted).</param>
/// <param name="AllPointsAllocated">The account-level green tick: at least one product, and none waiting for details.</param>
public sealed record AccountSummary(
    Guid AccountId,
    int PointsTotal,
    int Products,
    int ProductsWithGreenTick,
    int ProductsAwaitingDetails,
    bool AllPointsAllocated);

/// <summary>How the points total is built up: one line per allocation or removal, and the products still waiting for details.</summary>
public sealed record PointsExplanation(
    Guid AccountId,
    int PointsTotal,
    IReadOnlyList<PointsLine> Lines,
    IReadOnlyList<ProductAwaitingDetails> AwaitingDetails);

public sealed record ProductAwaitingDetails(
    Guid RegistrationId,
    string ModelCode,
    string ModelName,
    string? SerialNumber,
    IReadOnlyList<MandatoryDetail> MissingDetails,
    DateTimeOffset RegisteredAt);

public static class AccountPoints
{
    /// <summary>The summary from each product's current state.</summary>
    public static AccountSummary Summarize(Guid accountId, IReadOnlyCollection<ProductView> products)
    {
        var registered = products.Where(p => !p.Deregistered).ToList();
        var ticked = registered.Count(p => p.GreenTick);
        var awaiting = registered.Count(p => p.MissingDetails.Count > 0);
        return new AccountSummary(accountId, registered.Sum(p => p.Points), registered.Count, ticked, awaiting,
            registered.Count > 0 && awaiting == 0);
    }

    /// <summary>
    /// The explanation from each product's history of allocations and removals. Its total is the sum of its lines, computed
    /// independently of <see cref="Summarize"/>: the two agreeing is what the tests check.
    /// </summary>
    public static PointsExplanation Explain(Guid accountId, IReadOnlyCollection<ProductView> products)
    {
        var lines = products.SelectMany(p => p.PointsLines).OrderBy(l => l.At).ThenBy(l => l.EventId).ToList();
        var awaiting = products
            .Where(p => !p.Deregistered && p.MissingDetails.Count > 0)
            .OrderBy(p => p.RegisteredAt)
            .Select(p => new ProductAwaitingDetails(p.Id, p.ModelCode, p.ModelName, p.SerialNumber, p.MissingDetails, p.RegisteredAt))
            .ToList();
        return new PointsExplanation(accountId, lines.Sum(l => l.Points), lines, awaiting);
    }

    /// <summary>Every product ever registered on the account (an index lookup on the account id; no other account is read).</summary>
    public static async Task<IReadOnlyList<ProductView>> ProductsOf(IQuerySession session, Guid accountId, CancellationToken ct) =>
        await session.Query<ProductView>().Where(p => p.AccountId == accountId).ToListAsync(ct);
}

public static class GetAccountSummaryEndpoint
{
    [WolverineGet("/api/accounts/{accountId}/summary", OperationId = "GetAccountSummary")]
    [Authorize(Roles = LedgerRoles.Readers)]
    [Tags("Points")]
    [EndpointSummary("Points total, products and the account-level green tick")]
    [ProducesResponseType<AccountSummary>(StatusCodes.Status200OK)]
    [ProducesResponseType(StatusCodes.Status404NotFound)]
    public static async Task<IResult> Get(Guid accountId, IQuerySession session, CancellationToken ct) =>
        await AccountLookup.ExistsAsync(session, accountId, ct)
            ? Results.Ok(AccountPoints.Summarize(accountId, [.. await AccountPoints.ProductsOf(session, accountId, ct)]))
            : Results.Problem(Problems.AccountNotFound);
}

public static class GetPointsExplanationEndpoint
{
    [WolverineGet("/api/accounts/{accountId}/points-explanation", OperationId = "GetPointsExplanation")]
    [Authorize(Roles = LedgerRoles.Readers)]
    [Tags("Points")]
    [EndpointSummary("The points total line by line: which event allocated or removed what, with which catalogue value, when, by whom")]
    [ProducesResponseType<PointsExplanation>(StatusCodes.Status200OK)]
    [ProducesResponseType(StatusCodes.Status404NotFound)]
    public static async Task<IResult> Get(Guid accountId, IQuerySession session, CancellationToken ct) =>
        await AccountLookup.ExistsAsync(session, accountId, ct)
            ? Results.Ok(AccountPoints.Explain(accountId, [.. await AccountPoints.ProductsOf(session, accountId, ct)]))
            : Results.Problem(Problems.AccountNotFound);
}
