using System.ComponentModel;
using System.ComponentModel.DataAnnotations;
using System.Security.Claims;
using CpsLedger.Api.Accounts;
using CpsLedger.Api.Membership;
using CpsLedger.Api.Platform;
using CpsLedger.Api.Products;
using CpsLedger.Api.Support;
using CpsLedger.Api.Tiers;
using JasperFx.Events;
using Marten;
using Marten.Services.BatchQuerying;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using Wolverine.Http;

namespace CpsLedger.Api.Audit;

/// <summary>The account as it stood at a past moment, replayed from the events (never read from stored documents).</summary>
/// <param name="LastSequenceIncluded">The global sequence of the last event replayed (0: none).</param>
/// <param name="LastCommitIncluded">The commit (transaction) that event was written by; every event of that commit in the
/// account's streams is replayed. Null when it was stored before events carried their commit: such events are each a commit of
/// their own, so the cut may fall inside a transaction, as it always did.</param>
/// <param name="AccountId">The business account.</param>
/// <param name="AsOfTimestamp">The moment asked for (<c>timestamp</c>); null when a sequence was asked for.</param>
/// <param name="AsOfSequence">The ledger sequence asked for (<c>sequence</c>); null when a moment was asked for.</param>
/// <param name="Summary">The account summary as it stood then.</param>
/// <param name="Explanation">The points explanation as it stood then.</param>
/// <param name="EligibleTiers">Tier eligibility then, on the tier table of then; null when no tier table was published
/// yet.</param>
/// <param name="Membership">The account's standing in the programme as it stood then (invitations, terms, membership numbers);
/// null when there was none yet: not invited, and no old membership number carried over.</param>
/// <param name="Products">Each product registered by then as it stood then, as the account's product list reads it with
/// <c>includeDeregistered=true</c> (newest registration first, ties by registration id, descending): the deregistered ones too, their
/// <c>deregistered</c> saying so; one waiting for a detail with its <c>missingDetails</c> and <c>expectedPoints</c> (the catalogue's value
/// then); its points lines as they stood. Folded from its events up to the cut by the product's own projection; whole, never paged, as
/// the explanation's lines are. Empty before the first registration. Until 2026-12-07 time travel gave only the summary's counts and the
/// explanation's lines.</param>
/// <param name="Invoices">Each invoice of the account as it stood then, as the account's invoices read it (newest first, invoices issued
/// at one instant by number, descending): its status, what was received, refunded, credited (its credit note) and outstanding then,
/// folded from its events up to the cut by the invoice's own projection. Empty before the first invoice was issued. Until
/// 2026-12-07 time travel gave only what was owed (the summary's).</param>
/// <param name="ChainIntact">True when every event replayed still hashes to its link in the hash chain (and no event chained up to
/// the cut is gone): what was folded is what was chained. False when <paramref name="ChainBreaks"/> names one.</param>
/// <param name="ChainBreaks">Each event replayed whose link no longer matches it (edited: its content was changed after it was
/// appended, and the state above is folded from the changed content; reordered: its sequence is not the one chained; hash_altered:
/// the event is the one chained, its link's stored hash was changed), and each
/// link up to the cut whose event is gone (removed), as verification names them; empty when intact.</param>
public sealed record AccountAsOf(
    Guid AccountId,
    DateTimeOffset? AsOfTimestamp,
    long? AsOfSequence,
    long LastSequenceIncluded,
    Guid? LastCommitIncluded,
    AccountSummary Summary,
    PointsExplanation Explanation,
    EligibleTiers? EligibleTiers,
    AccountMembership? Membership,
    IReadOnlyList<ProductView> Products,
    IReadOnlyList<Invoicing.Invoice> Invoices,
    bool ChainIntact,
    IReadOnlyList<ChainBreak> ChainBreaks);

public static class TimeTravel
{
    /// <summary>
    /// Replays every stream of the account (and the tier table) up to the cut-off, whole commits only (<see cref="CommitCut"/>):
    /// at a sequence, the state right after the commit that wrote that event; at a timestamp, the commits all of whose events
    /// are at or before it. Products registered later simply do not exist yet.
    /// </summary>
    public static async Task<AccountAsOf?> AsOfAsync(IQuerySession session, ChainVerification chains, Guid accountId, DateTimeOffset? timestamp,
        long? sequence, CancellationToken ct, MembershipYearOptions? membershipYear = null, DateTimeOffset? now = null)
    {
        // Two round trips whatever the account holds: its streams (with the event at the sequence asked for), then all their
        // events with their chains' broken links, each stream replayed from them in memory. A query per product and invoice stream
        // made it 2 + N + M.
        var batch = session.CreateBatchQuery();
        var streamsRead = AccountStreams.In(batch, accountId);
        // As stored now, for its old e-mails: whose old CPS account a registration was migrated from never changes.
        var accountRead = batch.Load<Accounts.AccountView>(accountId);
        var atSequence = sequence is { } asked ? EventAtOrBefore(batch, asked) : null;
        // The catalogue's models of the account's products (a product's model never changes): their streams are replayed to the cut
        // below, so the explanation says what the catalogue gave then (catalogueNowGives, expectedPoints), as a reader read it then;
        // as of now, what it gives now, as live.
        var modelsRead = AccountPointsSources.CatalogueIn(batch, accountId);
        await batch.Execute(ct);
        var streams = await streamsRead();
        var ids = streams.Select(s => s.StreamId).Append(TierTableStream.Id).ToArray();
        var modelIds = (await modelsRead).Values.Select(m => m.Id).ToArray();

        // All of the streams' events, those after the cut too: a commit's later events decide whether it is in.
        var read = session.CreateBatchQuery();
        var allRead = read.Query<IEvent>().Where(e => e.StreamId.IsOneOf(ids.Concat(modelIds).ToArray())).OrderBy(e => e.Sequence).ToList();
        // The chains those events are on (the account's own, and each stream's for events that name no account, the tier table's);
        // the catalogue's are not the account's.
        var brokenRead = chains.BrokenLinksIn(read, ids);
        // The old CPS account each migrated product came from, as stored now: which old account a registration was migrated from never
        // changes (an e-mail cannot be unlinked once something was migrated from it), and only the products replayed below are named.
        // Read by id: the old accounts of the account's old e-mails.
        var oldAccounts = AccountPointsSources.OldCpsAccountsOf(await accountRead);
        var legacyRead = oldAccounts.Length > 0 ? read.LoadMany<Migration.LegacyAccountView>().ById(oldAccounts) : null;
        await read.Execute(ct);
        var all = await allRead;
        var at = atSequence is null ? null : await atSequence;
        var events = sequence is { } s
            ? CommitCut.AtSequence(all, s, at is { } e && e.Sequence == s ? CommitIds.Of(e) : null)
            : CommitCut.AtTimestamp(all, timestamp!.Value);
        var replay = new StreamReplay(session, events);

        if (!replay.Has(accountId))
            return null; // the account did not exist yet

        var products = new List<ProductView>();
        foreach (var registration in streams.Where(x => x.Kind == AccountStreamKind.Registration))
        {
            if (await replay.AggregateAsync<ProductView>(registration.StreamId, ct) is { } product)
                products.Add(product);
        }

        var adjustments = await replay.AggregateAsync<AccountAdjustments>(accountId, ct);
        var legacyAccounts = legacyRead is null ? [] : await legacyRead;
        var modelsThen = new List<Catalogue.ProductModelView>();
        foreach (var modelId in modelIds)
        {
            if (await replay.AggregateAsync<Catalogue.ProductModelView>(modelId, ct) is { } model)
                modelsThen.Add(model);
        }

        var sources = new AccountPointsSources(products, adjustments?.Adjustments ?? [])
        {
            MigratedFrom = AccountPointsSources.MigratedFromOf(accountId, legacyAccounts),
            CatalogueNow = AccountPointsSources.CatalogueOf(modelsThen),
        };
        var summary = AccountPoints.Summarize(accountId, sources);

        var membership = await replay.AggregateAsync<AccountMembership>(MembershipStream.For(accountId), ct);
        var table = await replay.AggregateAsync<TierTableView>(TierTableStream.Id, ct);

        // The membership's status and what was owed, from the invoices as they stood then, on the day of the moment asked for
        // (a sequence's day is its event's: the status of a term depends on the day).
        var invoices = new List<Invoicing.Invoice>();
        foreach (var invoice in streams.Where(x => x.Kind == AccountStreamKind.Invoice))
        {
            if (await replay.AggregateAsync<Invoicing.Invoice>(invoice.StreamId, ct) is { } replayed)
                invoices.Add(replayed);
        }
        var moment = timestamp ?? at?.Timestamp ?? default;
        // A moment still to come has no events after now: its state is today's, not a forecast (as of 2999 a term read "ended").
        if (now is { } today && moment > today)
            moment = today;
        var standing = Invoicing.InvoiceQueries.Standing(membership, invoices, DateOnly.FromDateTime(moment.UtcDateTime));
        summary = summary.With(standing);

        // The term, renewal and tier history as they stood then (replayed like everything else).
        var options = membershipYear ?? new MembershipYearOptions();
        var eligibility = table is null ? null : Eligibility.Decide(accountId, summary.PointsTotal, summary.Products, table);
        // The renewal options on the offer's table as it stood then, from the table's events replayed here (no round trip).
        var offered = table is null ? null : RenewalTables.OfferedOn(events, membership, table.TableVersion);
        var outlook = MembershipOutlook.Of(membership, eligibility, options, table, offered);
        var last = events.Count == 0 ? null : events[^1];
        var folded = events.Select(e => e.Id).ToHashSet();
        var notAsChained = (await brokenRead())
            .Where(b => b.Problem == "removed" ? b.Sequence <= (last?.Sequence ?? 0) : b.EventId is { } id && folded.Contains(id))
            .OrderBy(b => b.Sequence).ToList();
        var explanation = AccountPoints.Explain(accountId, sources) with { Membership = outlook };
        // Each product as the product list describes it, from the old e-mails and the catalogue replayed above (no round trip more);
        // after the explanation, which reads the lines as folded (describing replaces them in place).
        var productsThen = ListProductsEndpoint.InListOrder(PointsInWords.Describe(products, sources.MigratedFrom, sources.CatalogueNow));
        return new AccountAsOf(accountId, timestamp, sequence, last?.Sequence ?? 0, last is null ? null : CommitIds.Of(last), summary,
            explanation,
            // The invitation as it stood then, as eligible-tiers says it now.
            eligibility is null ? null : eligibility with
            {
                Membership = outlook,
                Invitation = InvitationPolicy.Standing(membership, summary.PointsTotal, table!),
            },
            membership,
            productsThen,
            // In the order of the account's invoice list (InvoicesOfAccount), so that as of now the two read item for item alike.
            [.. invoices.OrderByDescending(i => i.IssuedAt).ThenByDescending(i => i.InvoiceNumber, StringComparer.Ordinal)],
            notAsChained.Count == 0, notAsChained);
    }

    /// <summary>
    /// The event with the given global sequence, or the last one before it when there is none: its commit (when it is that
    /// sequence's) is where the cut falls, and its timestamp the day the moment is on.
    /// </summary>
    private static Task<IEvent?> EventAtOrBefore(IBatchedQuery batch, long sequence) =>
        batch.Query<IEvent>().Where(e => e.Sequence <= sequence).OrderByDescending(e => e.Sequence).FirstOrDefault();
}

/// <summary>
/// Where time travel cuts: between commits, never inside one, so that it never shows a state that never existed (a payment
/// without the reinstatement committed with it, a product without the points allocated with it). A commit is the events that
/// share a commit id (<see cref="CommitIds"/>); an event stored before events carried one is a commit of its own. Only the events
/// of the streams replayed are seen: a commit's events in other accounts' streams neither include nor exclude it.
/// </summary>
public static class CommitCut
{
    /// <summary>
    /// The state right after the commit that wrote event <paramref name="sequence"/>: that commit whole (its events above the
    /// sequence too), and every other commit whose events are all at or below it (one that also wrote above it is left out whole).
    /// </summary>
    public static IReadOnlyList<IEvent> AtSequence(IReadOnlyList<IEvent> events, long sequence, Guid? commitOfSequence) =>
        Whole(events, commit => commit.Key.Commit is { } id && id == commitOfSequence || commit.All(e => e.Sequence <= sequence));

    /// <summary>The commits visible at <paramref name="timestamp"/>: those all of whose events are at or before it.</summary>
    public static IReadOnlyList<IEvent> AtTimestamp(IReadOnlyList<IEvent> events, DateTimeOffset timestamp)
    {
        // Stored timestamps are in microseconds: the moment asked for is rounded to them, as PostgreSQL rounded it when it compared
        // (and as the history's through is).
        var t = TimeRange.ToStoredPrecision(timestamp);
        return Whole(events, commit => commit.All(e => e.Timestamp <= t));
    }

    private static IReadOnlyList<IEvent> Whole(IReadOnlyList<IEvent> events, Func<IGrouping<(Guid? Commit, long Sequence), IEvent>, bool> included)
    {
        var kept = events.GroupBy(e => CommitIds.Of(e) is { } id ? (Commit: (Guid?)id, Sequence: 0L) : (Commit: (Guid?)null, Sequence: e.Sequence)).Where(included)
            .SelectMany(c => c).ToHashSet();
        // A stream replays up to its first event left out (its versions in order); a stream's later commit waits for the earlier.
        return [.. events.GroupBy(e => e.StreamId).SelectMany(s => s.OrderBy(e => e.Version).TakeWhile(kept.Contains)).OrderBy(e => e.Sequence)];
    }
}

public static class GetAccountAsOfEndpoint
{
    /// <summary>What a sequence that is not one is told, whether it is 0, negative or not a whole number at all.</summary>
    public const string NotASequence = "The sequence is a positive number (global event sequences start at 1).";

    [WolverineGet("/api/accounts/{accountId}/as-of", OperationId = "GetAccountAsOf")]
    [Authorize(Roles = LedgerRoles.HistoryReaders)]
    [EndpointSummary("Time travel: summary, explanation, eligible tiers, membership, products and invoices as of a timestamp or a global event sequence")]
    [EndpointDescription("Replayed from the events, whole commits only (a commit: the events one transaction wrote): at a sequence, " +
                         "the state right after the commit that wrote that event, its events with a higher sequence included; at a " +
                         "timestamp, the commits all of whose events are at or before it. lastSequenceIncluded is the last event " +
                         "replayed; lastCommitIncluded its commit, or null when that event was stored before events carried their " +
                         "commit (each such event counts as a commit of its own, so the cut may fall inside a transaction). products " +
                         "are each product registered by then as it stood then (details, missing details, green tick, points, " +
                         "deregistration, points lines), as the account's product list reads them with includeDeregistered=true, whole. invoices " +
                         "are each of the account's invoices as it stood then (status, received, refunded, credit note, outstanding), " +
                         "as the account's invoice list reads them. The " +
                         "explanation, membership and products' points lines are read as their own routes show them to the caller: the account's member reads " +
                         "that CPS support made a change and its ticket, never support's reason, and the role of CPS staff who acted, never " +
                         "a staff member's user name.")]
    public static async Task<Results<Ok<AccountAsOf>, ProblemHttpResult>> Get(Guid accountId,
        [Description("The state as of this moment: every commit all of whose events are at or before it (included). ISO 8601 with its " +
                     "offset, e.g. 2026-11-25T12:00:00Z for UTC (a time without an offset is refused), to the microsecond; the history " +
                     "through the same moment (history?through=) lists the events replayed; a moment still to come gives the state now. Give " +
                     "this or sequence, not both.")] DateTimeOffset? timestamp,
        [Description("The state right after the commit that wrote this event: a global event sequence, from 1, as the history's " +
                     "sequence shows it. Give this or timestamp, not both.")]
        [Range(typeof(long), "1", "9223372036854775807", ErrorMessage = NotASequence)] long? sequence,
        IQuerySession session, ChainVerification chains, Microsoft.Extensions.Options.IOptions<MembershipYearOptions> membershipYear,
        ClaimsPrincipal user, TimeProvider clock, CancellationToken ct) =>
        await TimeTravel.AsOfAsync(session, chains, accountId, timestamp, sequence, ct, membershipYear.Value, clock.GetUtcNow()) is { } asOf
            ? TypedResults.Ok(asOf with
            {
                Explanation = SupportNotes.For(user, asOf.Explanation),
                Membership = asOf.Membership is null ? null : SupportNotes.For(user, asOf.Membership),
                Products = SupportNotes.For(user, asOf.Products),
            })
            : TypedResults.Problem(Problems.NotFound("Account did not exist yet", "The account was opened after the moment asked for."));

    // A sequence below 1 names no event (0 was once answered 404 "did not exist yet", as if it were one); it never gets here: the
    // request gate refuses it by the parameter's [Range] (RequestGateTests).
    public static ProblemDetails Validate(DateTimeOffset? timestamp, long? sequence) =>
        timestamp is null == sequence is null
            ? Problems.Invalid("timestamp", "Give exactly one of timestamp (ISO 8601) or sequence (a global event sequence).")
            : WolverineContinue.NoProblems;
}
