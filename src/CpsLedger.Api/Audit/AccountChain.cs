using CpsLedger.Api.Accounts;
using CpsLedger.Api.Platform;
using Marten;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Mvc;
using Wolverine.Http;

namespace CpsLedger.Api.Audit;

/// <summary>One hash chain of an account: how far it reaches, its head, and whether it is intact.</summary>
/// <param name="Links">Links in the chain (its head's position).</param>
/// <param name="HeadHash">SHA-256 of the head link (hex): compare it with an exported heads file.</param>
/// <param name="Break">The first place the stored events no longer match the chain; null when intact.</param>
public sealed record ChainStatus(Guid ChainId, long Links, long HeadSequence, string HeadHash, bool Intact, ChainBreak? Break);

/// <summary>
/// The hash-chain status of an account: its own chain (every event that names the account) and the per-stream chains of its
/// events that name no account, each recomputed from the stored events now.
/// </summary>
public sealed record AccountChainStatus(Guid AccountId, DateTimeOffset CheckedAt, bool Intact, IReadOnlyList<ChainStatus> Chains,
    IReadOnlyList<ChainBreak> Breaks);

public static class AccountChainEndpoint
{
    public static AccountChainStatus Combine(Guid accountId, DateTimeOffset now, IReadOnlyList<ChainHead> heads, IReadOnlyList<ChainBreak> breaks)
    {
        var chains = heads
            .OrderBy(h => h.ChainId != accountId) // the account's own chain first
            .ThenBy(h => h.ChainId)
            .Select(h =>
            {
                var broken = breaks.FirstOrDefault(b => b.ChainId == h.ChainId);
                return new ChainStatus(h.ChainId, h.Position, h.Sequence, h.Hash, broken is null, broken);
            })
            .ToList();
        return new AccountChainStatus(accountId, now, breaks.Count == 0, chains, breaks);
    }

    [WolverineGet("/api/accounts/{accountId}/hash-chain", OperationId = "GetAccountHashChain")]
    [Authorize(Roles = $"{LedgerRoles.Auditor},{LedgerRoles.Support}")]
    [EndpointSummary("The account's hash chains recomputed from its stored events: links, heads and the first break of each")]
    public static async Task<AccountChainStatus> Get(Guid accountId, IQuerySession session, ChainVerification chains, TimeProvider clock,
        CancellationToken ct)
    {
        var streams = (await AccountStreams.OfAsync(session, accountId, ct)).Select(s => s.StreamId).ToList();
        IReadOnlyCollection<Guid> chainIds = [accountId, .. streams];
        var heads = await chains.HeadsAsync(ct, chainIds);
        var breaks = await chains.VerifyAsync(chainIds, streams, ct);
        return Combine(accountId, clock.GetUtcNow(), heads, breaks);
    }
}
