using CpsLedger.Api.Accounts;
using CpsLedger.Api.Platform;
using Marten;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Mvc;
using Wolverine.Http;

namespace CpsLedger.Api.Audit;

/// <summary>One hash chain of an account: how far it reaches, its head, and whether it is intact.</summary>
/// <param name="Kind">What the chain's events are about: the account itself (every event that names it), one of its streams whose
/// events name no account (e.g. an invoice's charge attempts), or an old CPS account its migration reads (its imported products).</param>
/// <param name="Label">What the kind alone does not say: for an old CPS account, its old e-mail and old membership number; for an invoice
/// (its chain holds the card charge attempts), the invoice's number; otherwise null.</param>
/// <param name="Links">Links in the chain (its head's position).</param>
/// <param name="HeadHash">SHA-256 of the head link (hex): compare it with an exported heads file.</param>
/// <param name="Break">The first place the stored events no longer match the chain; null when intact.</param>
/// <param name="ChainId">The chain's id.</param>
/// <param name="HeadSequence">The ledger sequence of the chain's last event.</param>
/// <param name="Intact">True when the chain matches the stored events.</param>
public sealed record ChainStatus(Guid ChainId, AccountStreamKind Kind, string? Label, long Links, long HeadSequence, string HeadHash, bool Intact, ChainBreak? Break);

/// <summary>A chain the account's verification checks, named with the id, kind and label a chain's status carries.</summary>
/// <param name="ChainId">The chain's id.</param>
/// <param name="Kind">What the chain's events are about.</param>
/// <param name="Label">What the kind alone does not say (an old e-mail and number, an invoice number); null otherwise.</param>
public sealed record ChainName(Guid ChainId, AccountStreamKind Kind, string? Label);

/// <summary>
/// The hash-chain status of an account: the chains its verification checks, each recomputed from the stored events
/// now.
/// </summary>
/// <remarks>The chains are those <see cref="AccountChains"/> lists.</remarks>
/// <param name="Unlinked">The chains among <paramref name="Breaks"/> that have no link at all, so no row in <paramref name="Chains"/>
/// (their events were stored around the chain's trigger): named as the chains are.</param>
/// <param name="AccountId">The business account.</param>
/// <param name="CheckedAt">When the chains were recomputed, UTC.</param>
/// <param name="Intact">True when every chain matches the stored events.</param>
/// <param name="Chains">Each chain of the account.</param>
/// <param name="Breaks">Every link where chains are broken, each chain's in link order; empty when intact.</param>
public sealed record AccountChainStatus(Guid AccountId, DateTimeOffset CheckedAt, bool Intact, IReadOnlyList<ChainStatus> Chains,
    IReadOnlyList<ChainBreak> Breaks, IReadOnlyList<ChainName> Unlinked);

/// <summary>
/// The chains that feed one account, which its verification, its <c>hash-chain</c> status and its history's <c>chainBreaks</c> all
/// check, and what each is: the account's own chain, the per-stream chains of its streams (events that carry no account id, e.g.
/// charge attempts), and the chains of the old CPS accounts its migration reads: those of its old e-mails, which its migration
/// status and MIGRATE PRODUCTS read, and those its products were migrated from (their streams hold events of its chain, and their
/// imports are what the history says a migrated product was). The old accounts are found from the stored account view: a view
/// edited to hide one is a difference the verification reports.
/// </summary>
/// <param name="LinkedElsewhere">The events of the account's own chain stored on other streams (its products migrated in, on their
/// old accounts' streams): each one's stream and sequence, which the history lists.</param>
public sealed record AccountChains(Guid AccountId, IReadOnlyList<AccountStream> Streams, IReadOnlyList<Guid> OldCpsAccounts,
    IReadOnlyList<(Guid StreamId, long Sequence)> LinkedElsewhere)
{
    public IReadOnlyList<Guid> StreamIds => [.. Streams.Select(s => s.StreamId)];

    public IReadOnlyCollection<Guid> ChainIds => [.. new[] { AccountId }.Concat(StreamIds).Concat(OldCpsAccounts).Distinct()];

    public AccountStreamKind KindOf(Guid chainId) =>
        chainId == AccountId ? AccountStreamKind.Account
        : Streams.FirstOrDefault(s => s.StreamId == chainId) is { } stream ? stream.Kind
        : AccountStreamKind.OldCpsAccount;

    public static async Task<AccountChains> OfAsync(IQuerySession session, ChainVerification chains, Guid accountId, CancellationToken ct)
    {
        // The streams and the view in one round trip.
        var batch = session.CreateBatchQuery();
        var streamsRead = AccountStreams.In(batch, accountId);
        var viewRead = batch.Load<AccountView>(accountId);
        await batch.Execute(ct);
        var streams = await streamsRead();
        var oldEmails = (await viewRead)?.OldCpsEmails ?? [];
        var migratedFrom = await chains.LinkedElsewhereAsync(session, accountId, [accountId, .. streams.Select(s => s.StreamId)], ct);
        return new AccountChains(accountId, streams,
            [.. oldEmails.Select(Migration.LegacyIds.AccountFor).Concat(migratedFrom.Select(e => e.StreamId)).Distinct()], migratedFrom);
    }
}

public static class AccountChainEndpoint
{
    public static AccountChainStatus Combine(AccountChains scope, DateTimeOffset now, IReadOnlyList<ChainHead> heads, IReadOnlyList<ChainBreak> breaks,
        IReadOnlyDictionary<Guid, string> labels)
    {
        var chains = heads
            .Select(h => (Head: h, Kind: scope.KindOf(h.ChainId)))
            .OrderBy(c => c.Kind) // the account's own chain first, the old CPS accounts' last
            .ThenBy(c => c.Head.ChainId)
            .Select(c =>
            {
                var broken = breaks.FirstOrDefault(b => b.ChainId == c.Head.ChainId);
                return new ChainStatus(c.Head.ChainId, c.Kind, labels.GetValueOrDefault(c.Head.ChainId), c.Head.Position, c.Head.Sequence,
                    c.Head.Hash, broken is null, broken);
            })
            .ToList();
        var unlinked = breaks.Where(b => heads.All(h => h.ChainId != b.ChainId)).DistinctBy(b => b.ChainId)
            .Select(b => new ChainName(b.ChainId, scope.KindOf(b.ChainId), labels.GetValueOrDefault(b.ChainId)))
            .ToList();
        return new AccountChainStatus(scope.AccountId, now, breaks.Count == 0, chains, breaks, unlinked);
    }

    [WolverineGet("/api/accounts/{accountId}/hash-chain", OperationId = "GetAccountHashChain")]
    [Authorize(Roles = $"{LedgerRoles.Auditor},{LedgerRoles.Support}")]
    [EndpointSummary("The hash chains the account's verification checks (its own, its streams', its old CPS accounts'), recomputed from " +
                     "the stored events: what each is, links, heads, the first break of each and every broken link")]
    public static async Task<AccountChainStatus> Get(Guid accountId, IQuerySession session, ChainVerification chains, TimeProvider clock,
        CancellationToken ct)
    {
        var scope = await AccountChains.OfAsync(session, chains, accountId, ct);
        var heads = await chains.HeadsAsync(ct, scope.ChainIds);
        var breaks = await chains.VerifyAsync(scope.ChainIds, scope.StreamIds, ct);
        // Only the invoices whose chain is shown (a head or a break): an account's other invoices' streams have no chain of their own.
        var shown = heads.Select(h => h.ChainId).Concat(breaks.Select(b => b.ChainId)).ToHashSet();
        // The labels' two reads in one round trip.
        var batch = session.CreateBatchQuery();
        var oldAccountsRead = batch.LoadMany<Migration.LegacyAccountView>().ByIdList(scope.OldCpsAccounts);
        var invoicesRead = batch.LoadMany<Invoicing.Invoice>()
            .ByIdList(scope.Streams.Where(s => s.Kind == AccountStreamKind.Invoice && shown.Contains(s.StreamId)).Select(s => s.StreamId));
        await batch.Execute(ct);
        var (oldAccounts, invoices) = (await oldAccountsRead, await invoicesRead);
        var labels = oldAccounts.ToDictionary(a => a.Id, a => string.IsNullOrEmpty(a.OldMembershipNumber)
            ? a.OldEmail : $"{a.OldEmail} ({a.OldMembershipNumber})");
        foreach (var invoice in invoices)
            labels[invoice.Id] = invoice.InvoiceNumber;
        return Combine(scope, clock.GetUtcNow(), heads, breaks, labels);
    }
}
