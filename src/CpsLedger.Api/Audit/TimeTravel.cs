using CpsLedger.Api.Accounts;
using CpsLedger.Api.Membership;
using CpsLedger.Api.Platform;
using CpsLedger.Api.Products;
using CpsLedger.Api.Support;
using CpsLedger.Api.Tiers;
using JasperFx.Events;
using Marten;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using Wolverine.Http;

namespace CpsLedger.Api.Audit;

/// <summary>The account as it stood at a past moment, replayed from the events (never read from stored documents).</summary>
public sealed record AccountAsOf(
    Guid AccountId,
    DateTimeOffset? AsOfTimestamp,
    long? AsOfSequence,
    long LastSequenceIncluded,
    AccountSummary Summary,
    PointsExplanation Explanation,
    EligibleTiers? EligibleTiers,
    AccountMembership? Membership);

public static class TimeTravel
{
    /// <summary>
    /// Replays every stream of the account (and the tier table) up to the cut-off: the events at or before the timestamp, or
    /// with a global sequence at or below the one given. Products registered later simply do not exist yet.
    /// </summary>
    public static async Task<AccountAsOf?> AsOfAsync(IQuerySession session, Guid accountId, DateTimeOffset? timestamp, long? sequence,
        CancellationToken ct, MembershipYearOptions? membershipYear = null)
    {
        var streams = await AccountStreams.OfAsync(session, accountId, ct);
        var ids = streams.Select(s => s.StreamId).Append(TierTableStream.Id).ToArray();

        var query = session.Events.QueryAllRawEvents().Where(e => e.StreamId.IsOneOf(ids));
        // PostgreSQL takes a timestamptz parameter in UTC only; the moment is the same whatever offset the client wrote.
        if (timestamp?.ToUniversalTime() is { } t)
            query = query.Where(e => e.Timestamp <= t);
        if (sequence is { } s)
            query = query.Where(e => e.Sequence <= s);
        var events = await query.OrderBy(e => e.Sequence).ToListAsync(ct);
        var lastVersion = events.GroupBy(e => e.StreamId).ToDictionary(g => g.Key, g => g.Max(e => e.Version));

        if (!lastVersion.TryGetValue(accountId, out var accountVersion))
            return null; // the account did not exist yet

        var products = new List<ProductView>();
        foreach (var registration in streams.Where(x => x.Kind == AccountStreamKind.Registration))
        {
            if (lastVersion.TryGetValue(registration.StreamId, out var version)
                && await session.Events.AggregateStreamAsync<ProductView>(registration.StreamId, version, token: ct) is { } product)
                products.Add(product);
        }

        var adjustments = await session.Events.AggregateStreamAsync<AccountAdjustments>(accountId, accountVersion, token: ct);
        var sources = new AccountPointsSources(products, adjustments?.Adjustments ?? []);
        var summary = AccountPoints.Summarize(accountId, sources);

        var membershipId = MembershipStream.For(accountId);
        var membership = lastVersion.TryGetValue(membershipId, out var membershipVersion)
            ? await session.Events.AggregateStreamAsync<AccountMembership>(membershipId, membershipVersion, token: ct)
            : null;
        var table = lastVersion.TryGetValue(TierTableStream.Id, out var tableVersion)
            ? await session.Events.AggregateStreamAsync<TierTableView>(TierTableStream.Id, tableVersion, token: ct)
            : null;

        // The membership's status and what was owed, from the invoices as they stood then, on the day of the moment asked for
        // (a sequence's day is its event's: the status of a term depends on the day).
        var invoices = new List<Invoicing.Invoice>();
        foreach (var invoice in streams.Where(x => x.Kind == AccountStreamKind.Invoice))
        {
            if (lastVersion.TryGetValue(invoice.StreamId, out var version)
                && await session.Events.AggregateStreamAsync<Invoicing.Invoice>(invoice.StreamId, version, token: ct) is { } replayed)
                invoices.Add(replayed);
        }
        var moment = timestamp ?? await MomentOfAsync(session, sequence!.Value, ct);
        var standing = Invoicing.InvoiceQueries.Standing(membership, invoices, DateOnly.FromDateTime(moment.UtcDateTime));
        summary = summary with { MembershipStatus = standing.Status, AmountOwed = standing.AmountOwed, OwedCurrency = standing.Currency };

        // The term, renewal and tier history as they stood then (replayed like everything else).
        var options = membershipYear ?? new MembershipYearOptions();
        var eligibility = table is null ? null : Eligibility.Decide(accountId, summary.PointsTotal, summary.Products, table);
        var outlook = MembershipOutlook.Of(membership, eligibility, options);
        return new AccountAsOf(accountId, timestamp, sequence, events.Count == 0 ? 0 : events.Max(e => e.Sequence), summary,
            AccountPoints.Explain(accountId, sources) with { Membership = outlook },
            eligibility is null ? null : eligibility with { Membership = outlook },
            membership);
    }

    /// <summary>When the event with the given global sequence (or the last one before it) was stored.</summary>
    private static async Task<DateTimeOffset> MomentOfAsync(IQuerySession session, long sequence, CancellationToken ct) =>
        await session.Events.QueryAllRawEvents().Where(e => e.Sequence <= sequence).OrderByDescending(e => e.Sequence)
            .Select(e => e.Timestamp).FirstOrDefaultAsync(ct);
}

public static class GetAccountAsOfEndpoint
{
    [WolverineGet("/api/accounts/{accountId}/as-of", OperationId = "GetAccountAsOf")]
    [Authorize(Roles = LedgerRoles.HistoryReaders)]
    [EndpointSummary("Time travel: summary, explanation, eligible tiers and membership as of a timestamp or a global event sequence")]
    public static async Task<Results<Ok<AccountAsOf>, ProblemHttpResult>> Get(Guid accountId, DateTimeOffset? timestamp, long? sequence,
        IQuerySession session, Microsoft.Extensions.Options.IOptions<MembershipYearOptions> membershipYear, CancellationToken ct) =>
        await TimeTravel.AsOfAsync(session, accountId, timestamp, sequence, ct, membershipYear.Value) is { } asOf
            ? TypedResults.Ok(asOf)
            : TypedResults.Problem(Problems.NotFound("Account did not exist yet", "The account was opened after the moment asked for."));

    public static ProblemDetails Validate(DateTimeOffset? timestamp, long? sequence) =>
        timestamp is null == sequence is null
            ? Problems.Invalid("timestamp", "Give exactly one of timestamp (ISO 8601) or sequence (a global event sequence).")
            // Global event sequences start at 1: 0 named no event and was answered 404 "did not exist yet", as if it were one.
            : sequence is < 1
                ? Problems.Invalid("sequence", "The sequence is a positive number (global event sequences start at 1).")
                : WolverineContinue.NoProblems;
}
