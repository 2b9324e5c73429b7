using CpsLedger.Api.Accounts;
using CpsLedger.Api.Products;
using CpsLedger.Api.Tiers;
using JasperFx;
using JasperFx.Events;
using Marten;
using Marten.Exceptions;
using MimeKit;
using Wolverine;
using Wolverine.Marten.Requirements;
using Wolverine.Runtime.Handlers;

namespace CpsLedger.Api.Membership;

/// <summary>
/// "Look at this account's points and the invitation again." Forwarded by Marten from every points event after it commits
/// (see <see cref="MembershipSetup"/>), so no command has to remember to ask.
/// </summary>
/// <remarks>
/// Reviews are handled in batches that mix requests, so the review carries who set it off (<see cref="Platform.CausedBy"/>), for
/// the invitation's <c>caused_by</c>. Null only in a review sent before it did.
/// </remarks>
public sealed record ReviewInvitation(Guid AccountId, Platform.CausedBy? Cause = null);

/// <summary>
/// "A new tier table is in force: review every account its threshold may concern." Forwarded by Marten from each
/// <see cref="TierTablePublished"/> after it commits; the reviews themselves are ordinary <see cref="ReviewInvitation"/>s.
/// </summary>
public sealed record ReviewInvitationsForTierTable(long TableVersion, Platform.CausedBy? Cause);

/// <summary>E-mail the account its invitation to join (again, when support resends it: then with the resend's id).</summary>
public sealed record SendInvitationEmail(Guid AccountId, Guid InvitationId, Guid? ResendId = null);

/// <summary>E-mail the account that its invitation is withdrawn (its points fell below the threshold before it joined).</summary>
public sealed record SendInvitationWithdrawnEmail(Guid AccountId, Guid InvitationId);

public static class InvitationPolicy
{
    /// <summary>
    /// The policy: invited when allocated points reach the threshold and there is no invitation or membership yet; the
    /// invitation withdrawn when points fall below it before joining. Nothing otherwise, which makes reviewing the same
    /// account any number of times, in any order, harmless. A membership stands until its end is recorded (renewed, lapsed
    /// or cancelled), also in the moments after its last day before the term end is handled: an invitation then would let
    /// the account join again beside a term that is still to be renewed. Its lapse reviews the account at once.
    /// </summary>
    public static object? Decide(AccountMembership? membership, Guid accountId, int points, TierTableView table, Guid newInvitationId,
        DateTimeOffset now)
    {
        if (membership?.Membership is not null)
            return null;

        if (membership?.Invitation is null && points >= table.InvitationThreshold)
            return new InvitationIssued(accountId, newInvitationId, points, table.InvitationThreshold, table.TableVersion, now);
        if (WouldWithdraw(membership, points, table))
            return new InvitationWithdrawn(accountId, membership!.Invitation!.InvitationId, points, table.InvitationThreshold, now);
        return null;
    }

    /// <summary>
    /// An invitation in the stream that these points no longer reach: its review, after the commit that lowered them, withdraws it.
    /// Joining and support's resend refuse it in between, as they would once it is withdrawn.
    /// </summary>
    public static bool WouldWithdraw(AccountMembership? membership, int points, TierTableView table) =>
        membership is { Membership: null, Invitation: not null } && points < table.InvitationThreshold;

    /// <summary>
    /// Whether an account with no membership term may join as far as its invitation goes, and if not why: the sentence the join's 409
    /// says, so eligible-tiers and the join answer alike. Null for an account with a term (its invitation is spent).
    /// </summary>
    public static Tiers.InvitationStanding? Standing(AccountMembership? membership, int points, TierTableView table)
    {
        if (membership?.Membership is not null)
            return null;
        var whyNot = membership?.Invitation is null
            // The invitation is issued by the review after the commit that raised the points: found there and the invitation not yet,
            // say so, rather than "needs 500 and has 1300".
            ? points >= table.InvitationThreshold
                ? $"The account has {points} allocated points, at least the {table.InvitationThreshold} an invitation needs: the " +
                  "invitation is being issued. Try again in a moment."
                : $"An account can join once invited: it needs {table.InvitationThreshold} allocated points and has {points}."
            : WouldWithdraw(membership, points, table) ? BeingWithdrawn(points, table) : null;
        return new Tiers.InvitationStanding(whyNot is null, table.InvitationThreshold, whyNot);
    }

    /// <summary>Why an invitation that <see cref="WouldWithdraw"/> does not stand, for a 409.</summary>
    public static string BeingWithdrawn(int points, TierTableView table) =>
        $"The invitation to join stands while the account has at least {table.InvitationThreshold} allocated points; it has {points} now, " +
        "so the invitation is being withdrawn.";
}

/// <summary>What a review of one account reads: its membership stream (fetched for writing) and its committed points.</summary>
public sealed record AccountUnderReview(Guid AccountId, IEventStream<AccountMembership> Membership, AccountPointsSources Points);

/// <summary>
/// Everything a batch of reviews reads, in one batched query (one round trip however many accounts): each account's membership
/// stream fetched for writing and its products and adjustments, and the tier table in force once.
/// </summary>
public static class ReviewInputs
{
    public static async Task<(IReadOnlyList<AccountUnderReview> Accounts, TierTableView Table)> LoadAsync(IDocumentSession session,
        IReadOnlyList<Guid> accountIds, CancellationToken ct)
    {
        // The batch's statements run in the batch's transaction, held to the commit, one after the other, each reading what had
        // committed when it started (READ COMMITTED): the first holds the tier table (HoldTierTable), the second the accounts'
        // reviews (InvitationReviewLock), and only then are the accounts and the table read.
        await session.BeginTransactionAsync(ct);
        var batch = session.CreateBatchQuery();
        HoldTierTable(session, batch);
        InvitationReviewLock.HoldIn(batch, accountIds);
        var reads = accountIds.Select(id => (Id: id, Membership: batch.Events.FetchForWriting<AccountMembership>(MembershipStream.For(id)),
            Points: AccountPoints.LoadIn(batch, id))).ToList();
        var table = batch.Load<TierTableView>(TierTableStream.Id);
        await batch.Execute(ct);

        var accounts = new List<AccountUnderReview>(reads.Count);
        foreach (var read in reads)
            accounts.Add(new AccountUnderReview(read.Id, await read.Membership, await read.Points));
        return (accounts, await table ?? throw new InvalidOperationException("The tier table has not been loaded."));
    }

    /// <summary>
    /// Holds the tier table's stream row (<c>for share</c>) until the batch commits, in the batch's first statement: the table is read by
    /// a later one, after any wait, so it is the one in force once the row is held. A publication's append updates that row, so it
    /// waits for the batches deciding on the table in force, and its own reviews (<see cref="ReviewInvitationsForTierTableHandler"/>,
    /// after its commit) find what they invited; a batch that starts after it waits for it and reads the new table. With the read alone,
    /// a batch inviting at the old threshold committed after a higher one had been published and reviewed for (its reviews found no
    /// invitation yet), and the account stayed invited below it (found in review, 2026-12-04). Shared, so batches on several nodes do
    /// not wait for each other; nothing else locks the row. The statement's own rows are not used: read in a snapshot taken before
    /// any wait, they may be the old table's.
    /// </summary>
    private static void HoldTierTable(IDocumentSession session, Marten.Services.BatchQuerying.IBatchedQuery batch)
    {
        var schema = session.DocumentStore.Options.Events.DatabaseSchemaName;
        _ = batch.Query<TierTableView>($"where d.id = ? and exists (select 1 from {schema}.mt_streams s where s.id = ? for share)",
            TierTableStream.Id, TierTableStream.Id);
    }
}

/// <summary>
/// The lock of an account's invitation review: a transaction-scoped advisory lock keyed by the account's id, which a review batch
/// takes for each of its accounts before it reads their membership and points, and holds to its commit. A batch decides on the
/// points, which it does not write, so the membership stream's version check alone let two reviews decide on what neither had
/// committed: a batch inviting on points read before a deregistration committed met that deregistration's own review on another
/// node, which read no invitation yet (the first had not committed) and the lower points and decided nothing; the first then
/// committed, and the account stayed invited below the threshold (found in review, 2026-12-04; withdrawing beside a registration's
/// review is the same race the other way round). Under the lock the later review waits for the earlier batch's commit, then reads
/// its invitation (and the points) and withdraws it. Every review batch takes it, in the keys' order, right after the tier table's
/// row (which only a publication's append waits for, holding nothing of an account's); recording old membership numbers takes it
/// after the old e-mails' locks and before the membership's row, and joining and resending before they read anything
/// (<see cref="TakesInvitationReviewLockAttribute"/>; ARCHITECTURE.md, "Lock order across accounts"). Nothing takes it while holding an account's row or chain.
/// </summary>
public static class InvitationReviewLock
{
    private const string Purpose = "cpsledger-invitation-review";

    /// <summary>Takes the accounts' locks in a statement of <paramref name="batch"/> (whose session has begun its transaction).</summary>
    public static void HoldIn(Marten.Services.BatchQuerying.IBatchedQuery batch, IReadOnlyList<Guid> accountIds) =>
        _ = batch.Query<string>(Platform.AdvisoryLocks.Statement(Purpose), accountIds.Distinct().ToArray());

    /// <summary>Takes the account's lock now, in a transaction the session begins if it has not, held to its commit.</summary>
    public static Task TakeAsync(IDocumentSession session, Guid accountId, CancellationToken ct) =>
        Platform.AdvisoryLocks.TakeAsync(session, Purpose, [accountId], ct);

    /// <summary>
    /// For an endpoint marked <see cref="TakesInvitationReviewLockAttribute"/>, in place of the account check of its route
    /// (<see cref="Platform.AccountScopePolicy"/>): begins the endpoint's transaction and returns the lock and that check as one Marten
    /// data requirement, which Wolverine puts into the batched query that fetches the endpoint's aggregate, ahead of the fetch. One
    /// requirement, not two: Wolverine's code places the batch after the first requirement it creates.
    /// </summary>
    public static async Task<IMartenDataRequirement> ThenAccountExistsAsync(IDocumentSession session, Guid accountId, CancellationToken ct)
    {
        await session.BeginTransactionAsync(ct);
        return new HeldBeforeTheFetch(accountId, Platform.AccountExistence.Require(accountId));
    }

    private sealed class HeldBeforeTheFetch(Guid accountId, IMartenDataRequirement then) : IMartenDataRequirement
    {
        public void RegisterInBatch(Marten.Services.BatchQuerying.IBatchedQuery query)
        {
            HoldIn(query, [accountId]);
            then.RegisterInBatch(query);
        }

        public Task CheckFromBatch(ILogger logger) => then.CheckFromBatch(logger);

        // Without a batch (an endpoint that fetches nothing else): taken on its own, before anything is read.
        public async Task CheckAsync(IDocumentSession session, ILogger logger, CancellationToken cancellation)
        {
            await TakeAsync(session, accountId, cancellation);
            await then.CheckAsync(session, logger, cancellation);
        }
    }
}

/// <summary>
/// On an <c>{accountId}</c> endpoint that appends to the account's membership stream while no membership is in force, fetching it
/// optimistically: joining and support's resend of the invitation. The account's invitation review lock is taken in the endpoint's
/// transaction, in the batched query's statement before the membership's fetch, and held to the commit. Recording old membership
/// numbers takes that lock and then the membership's row (for update) and appends at the version a join read; a join appending
/// beside it inserted its event at that version and then waited for the row, while the step's own event waited for the join's
/// insert: a deadlock, broken by PostgreSQL after <c>deadlock_timeout</c> (or, the other way round, the join's commit failed the
/// version check: a 409 for the member). Under the lock the join waits for the step's commit and then reads the membership it
/// left (found in the 2026-12-04 review; <c>InvitationReviewBatchTests</c>). A review batch takes the same lock, so a batch's
/// withdrawal and a join take turns too instead of one failing the other's version check. And on the endpoints that lower an
/// account's points (a deregistration, support's adjustment): joining decides on the points, which it does not write, and a
/// deregistration committing between a join's read and its commit left a membership joined on points the account no longer had
/// (found by a QA pass, 2026-12-04). Under the lock the later of the two reads what the earlier committed.
/// </summary>
[AttributeUsage(AttributeTargets.Method)]
public sealed class TakesInvitationReviewLockAttribute : Attribute;

/// <summary>
/// Reviews arrive in batches (<see cref="MembershipSetup.BatchReviews"/>): every review waiting, a tenth of a second at most, is
/// read in one round trip, decided, committed in one transaction, and marked handled together. A review per points event, each
/// with its own read and its own inbox update, was two round trips of every product's completion.
/// </summary>
[Platform.SystemActor("invitation-policy")]
public static class ReviewInvitationHandler
{
    // Two batches reviewing one account (on two nodes) take turns (InvitationReviewLock), so the second reads the first's invitation.
    // Joining and resending take that lock too (TakesInvitationReviewLockAttribute); any other append meanwhile makes the batch's fail
    // on the stream version: the batch is retried, and reads again. That is what makes the invitation happen exactly once.
    public static void Configure(HandlerChain chain) =>
        Platform.ErrorPolicy.RetryInPlace(chain, e => e is ConcurrencyException or Marten.Exceptions.ExistingStreamIdCollisionException, "a concurrent review",
            TimeSpan.FromMilliseconds(20), TimeSpan.FromMilliseconds(100), TimeSpan.FromMilliseconds(250), TimeSpan.FromSeconds(1));

    public static async Task<OutgoingMessages> Handle(ReviewInvitation[] reviews, IDocumentSession session, TimeProvider clock,
        InvitationReviewTestSeam seam, CancellationToken ct)
    {
        // The latest review of an account names the cause (Wolverine hands the batch over in arrival order).
        var causes = new Dictionary<Guid, Platform.CausedBy?>();
        foreach (var review in reviews)
            causes[review.AccountId] = review.Cause ?? causes.GetValueOrDefault(review.AccountId);
        // Read, and so appended, in the accounts' order, not the reviews': Marten writes a session's streams in the order it fetched
        // them, each commit locking the stream's row and the account's hash chain in turn, so two batches (two nodes) naming the same
        // accounts in opposite orders deadlocked (PostgreSQL failed one after deadlock_timeout). In one order, one waits for the other;
        // the review locks, taken in their keys' order before anything is read, now make the second wait before it reads.
        var (accounts, table) = await ReviewInputs.LoadAsync(session, [.. causes.Keys.Order()], ct);
        var emails = new OutgoingMessages();
        foreach (var account in accounts)
        {
            var summary = AccountPoints.Summarize(account.AccountId, account.Points);
            var decided = InvitationPolicy.Decide(account.Membership.Aggregate, account.AccountId, summary.PointsTotal, table,
                Guid.CreateVersion7(), clock.GetUtcNow());
            if (decided is null)
                continue;

            account.Membership.AppendOne(decided);
            // A batch mixes the reviews of several requests: each event names the request that set its own account's review off.
            Platform.SystemActor.StampCause(session, account.Membership.Id, causes[account.AccountId]);
            if (decided is InvitationIssued issued)
                emails.Add(new SendInvitationEmail(issued.AccountId, issued.InvitationId));
        }
        if (seam.BeforeCommit is { } beforeCommit)
            await beforeCommit(session);
        return emails;
    }
}

/// <summary>
/// Test seam, one per host (<see cref="Platform.TestSeams"/>: tests set it through InternalsVisibleTo; nothing else does): a step after
/// a batch of reviews has read and decided, before it commits, given the batch's session, so that a test can publish a tier table
/// meanwhile.
/// </summary>
public sealed class InvitationReviewTestSeam
{
    internal Func<IDocumentSession, Task>? BeforeCommit { get; set; }
}

/// <summary>
/// The invitation threshold is reference data operations may change (<c>PUT /api/tiers</c>): a lower one invites accounts
/// already at or above it, a higher one withdraws the invitations of accounts now below it (before they join), as a change
/// of points would. Reviewing an account the table does not concern changes nothing, so every account that could be
/// concerned is reviewed: those at or above the threshold with neither invitation nor membership, and every standing
/// invitation.
/// </summary>
public static class ReviewInvitationsForTierTableHandler
{
    // The session makes the handler transactional: the reviews are stored in the transaction that marks this message handled.
    public static async Task<OutgoingMessages> Handle(ReviewInvitationsForTierTable message, IDocumentSession session, CancellationToken ct)
    {
        var table = await session.LoadAsync<TierTableView>(TierTableStream.Id, ct);
        // A later table than this message's is in force: its own message reviews for it.
        if (table is null || table.TableVersion != message.TableVersion)
            return [];
        var toInvite = await InvitationCandidates.WithoutInvitationAsync(session, table.InvitationThreshold, ct);
        var invited = await session.Query<AccountMembership>().Where(m => m.Invitation != null).Select(m => m.AccountId).ToListAsync(ct);
        var reviews = new OutgoingMessages();
        reviews.AddRange(toInvite.Concat(invited).Distinct().Select(id => new ReviewInvitation(id, message.Cause)));
        return reviews;
    }
}

public static class InvitationCandidates
{
    /// <summary>Accounts whose points reach the threshold and that have neither an invitation nor a membership.</summary>
    public static Task<IReadOnlyList<Guid>> WithoutInvitationAsync(IQuerySession session, int threshold, CancellationToken ct) =>
        session.QueryAsync<Guid>($"""
            {PointsTotals(session)}
            select t.account_id from totals t
            where t.total >= ?
              and not exists (select 1 from {Table<AccountMembership>(session)} m where (m.data ->> 'AccountId')::uuid = t.account_id
                              and (jsonb_typeof(m.data -> 'Invitation') = 'object' or jsonb_typeof(m.data -> 'Membership') = 'object'))
            """, ct, threshold);

    /// <summary>
    /// Accounts whose invitation stands, with no membership, whose points add up to less than the threshold (none counts as 0):
    /// the policy would withdraw the invitation.
    /// </summary>
    public static Task<IReadOnlyList<Guid>> InvitedBelowAsync(IQuerySession session, int threshold, CancellationToken ct) =>
        session.QueryAsync<Guid>($"""
            {PointsTotals(session)}
            select (m.data ->> 'AccountId')::uuid from {Table<AccountMembership>(session)} m
            left join totals t on t.account_id = (m.data ->> 'AccountId')::uuid
            where jsonb_typeof(m.data -> 'Invitation') = 'object' and jsonb_typeof(m.data -> 'Membership') is distinct from 'object'
              and coalesce(t.total, 0) < ?
            """, ct, threshold);

    // Each account's allocated points (its registered products' and its adjustments'), as the summary adds them up.
    private static string PointsTotals(IQuerySession session) => $"""
            with points as (
                select (p.data ->> 'AccountId')::uuid as account_id, (p.data ->> 'Points')::int as points
                from {Table<ProductView>(session)} p where coalesce((p.data ->> 'Deregistered')::boolean, false) = false
                union all
                select a.id, (x ->> 'Points')::int from {Table<Support.AccountAdjustments>(session)} a, jsonb_array_elements(a.data -> 'Adjustments') x),
            totals as (select account_id, sum(points) as total from points group by account_id)
            """;

    private static string Table<T>(IQuerySession session) =>
        session.DocumentStore.Options.FindOrResolveDocumentType(typeof(T)).TableName.QualifiedName;
}

public static class SendInvitationEmailHandler
{
    public static async Task Handle(SendInvitationEmail message, IQuerySession session, Platform.MailDelivery mail, ILogger<SendInvitationEmail> logger,
        CancellationToken ct)
    {
        var membership = await session.LoadAsync<AccountMembership>(MembershipStream.For(message.AccountId), ct);
        // Withdrawn (or used) before the e-mail went out: an invitation that no longer stands is not announced. Expected, not a fault.
        if (membership?.Invitation?.InvitationId != message.InvitationId)
        {
            var reason = NotStanding(membership, message.InvitationId);
            if (message.ResendId is { } resend)
                logger.LogInformation(
                    "Invitation e-mail of invitation {InvitationId} of account {AccountId}, resend {ResendId}, not sent ({MessageType}): {Reason}",
                    message.InvitationId, message.AccountId, resend, nameof(SendInvitationEmail), reason);
            else
                logger.LogInformation("Invitation e-mail of invitation {InvitationId} of account {AccountId} not sent ({MessageType}): {Reason}",
                    message.InvitationId, message.AccountId, nameof(SendInvitationEmail), reason);
            return;
        }

        var account = await session.LoadAsync<AccountView>(message.AccountId, ct)
                      ?? throw new InvalidOperationException($"Account {message.AccountId} of invitation {message.InvitationId} is missing.");
        var table = await session.LoadAsync<TierTableView>(TierTableStream.Id, ct);
        var points = AccountPoints.Summarize(message.AccountId, await AccountPoints.LoadAsync(session, message.AccountId, ct));

        await mail.SendAsync(InvitationEmail.Compose(account, membership.Invitation, table, message.ResendId, points), ct);
    }

    /// <summary>Why an invitation is not the one standing: withdrawn, used by a membership that began, or never the account's.</summary>
    public static string NotStanding(AccountMembership? membership, Guid invitationId) =>
        membership?.PastInvitations.LastOrDefault(i => i.InvitationId == invitationId) switch
        {
            { WithdrawnAt: not null } => "the invitation was withdrawn",
            not null => "the invitation was used: a membership began",
            null => "the account has no such invitation",
        };
}

public static class InvitationWithdrawnEmails
{
    /// <summary>
    /// A withdrawal, once committed, asks for its e-mail (durably, via the outbox), as a credit note does: forwarded from the event, so a
    /// withdrawal by a change of points, a new threshold or the reconciliation's repair tells the member alike, who kept the invitation
    /// e-mail and would otherwise find out only when a join fails. Sent once per withdrawal (an invitation is withdrawn once) by its
    /// Message-Id (MailDelivery).
    /// </summary>
    public static void ForwardWithdrawalsToEmails(this Wolverine.Marten.MartenIntegration integration) =>
        integration.SubscribeToEvent<InvitationWithdrawn>().TransformedTo(e => new SendInvitationWithdrawnEmail(e.Data.AccountId, e.Data.InvitationId));

    /// <summary>
    /// The withdrawn invitation the member is to be told about: the account's latest, with no invitation or membership since (invited
    /// again, the new invitation's e-mail is the news). Null: no e-mail.
    /// </summary>
    public static InvitationRecord? Owed(AccountMembership? membership, Guid invitationId) =>
        membership is { Invitation: null, Membership: null } && membership.PastInvitations.LastOrDefault() is { WithdrawnAt: not null } last
                                                              && last.InvitationId == invitationId
            ? last
            : null;

    /// <summary>Why <see cref="Owed"/> is null, for the log: what stands in the way, newest news first.</summary>
    public static string NotOwed(AccountMembership? membership, Guid invitationId) => membership switch
    {
        { Invitation: { } standing } => $"invitation {standing.InvitationId} was issued since and stands",
        { Membership: { } term } => $"membership {term.MembershipNumber} ({term.MembershipId}) is in force",
        _ when membership?.PastInvitations.LastOrDefault(i => i.InvitationId == invitationId) is not { WithdrawnAt: not null } =>
            "the account has no such withdrawn invitation",
        _ when membership!.PastInvitations[^1].InvitationId != invitationId =>
            $"invitation {membership.PastInvitations[^1].InvitationId} was issued since",
        _ => "the invitation is not owed an e-mail",
    };

    // Not "invitation-...": that prefix is the invitation e-mails'.
    public static string MessageId(Guid invitationId) => $"withdrawn-invitation-{invitationId:N}@cpsledger";

    public static MimeMessage Compose(AccountView account, InvitationRecord invitation, int points, int threshold)
    {
        using var culture = MemberEmails.InvariantCulture();
        return MemberEmails.Plain(account, MessageId(invitation.InvitationId), "Your invitation to join Canon Professional Services is withdrawn", $"""
                Dear {account.CompanyName},

                On {invitation.IssuedAt:yyyy-MM-dd} we invited you to join Canon Professional Services (CPS). That invitation stands while your account has at least {threshold} points. Your business account has {points} {(points == 1 ? "point" : "points")} now, below the {threshold} points an invitation needs, so the invitation is withdrawn on {invitation.WithdrawnAt:yyyy-MM-dd} and joining is not possible for now.

                Register your products in the CPS portal: once your points reach {threshold} again you are invited again, with a new e-mail.

                Canon Professional Services
                """);
    }
}

public static class SendInvitationWithdrawnEmailHandler
{
    public static async Task Handle(SendInvitationWithdrawnEmail message, IQuerySession session, Platform.MailDelivery mail,
        ILogger<SendInvitationWithdrawnEmail> logger, CancellationToken ct)
    {
        var membership = await session.LoadAsync<AccountMembership>(MembershipStream.For(message.AccountId), ct);
        // Invited again (or a member) before the e-mail went out: the news since is the member's. Expected, not a fault.
        if (InvitationWithdrawnEmails.Owed(membership, message.InvitationId) is not { } invitation)
        {
            logger.LogInformation("Withdrawn-invitation e-mail of invitation {InvitationId} of account {AccountId} not sent ({MessageType}): {Reason}",
                message.InvitationId, message.AccountId, nameof(SendInvitationWithdrawnEmail), InvitationWithdrawnEmails.NotOwed(membership, message.InvitationId));
            return;
        }

        var account = await session.LoadAsync<AccountView>(message.AccountId, ct)
                      ?? throw new InvalidOperationException($"Account {message.AccountId} of invitation {message.InvitationId} is missing.");
        // The figures the withdrawal was decided on (points and threshold), from its event.
        var events = await session.Events.FetchStreamAsync(MembershipStream.For(message.AccountId), token: ct);
        var withdrawn = events.Select(e => e.Data).OfType<InvitationWithdrawn>().Last(e => e.InvitationId == message.InvitationId);
        await mail.SendAsync(InvitationWithdrawnEmails.Compose(account, invitation, withdrawn.Points, withdrawn.Threshold), ct);
    }
}

public static class InvitationEmail
{
    /// <param name="pointsNow">The account's points as the e-mail is written: when they still add up to the invitation's, the e-mail
    /// says how much of them support's adjustments gave (the invitation records the total only).</param>
    public static MimeMessage Compose(AccountView account, InvitationRecord invitation, TierTableView? table, Guid? resendId = null,
        AccountSummary? pointsNow = null)
    {
        using var culture = MemberEmails.InvariantCulture();
        var standard = table?.Tiers.Where(t => t.Kind == TierKind.Standard && t.PointsRequired <= invitation.Points)
            .OrderBy(t => t.PointsRequired).Select(t => $"  - {t.Name}: {Invoicing.InvoiceWording.Money(t.AnnualFee)} {t.Currency} a year ({t.PointsRequired} points)")
            .ToList() ?? [];
        // Above the enterprise points the enterprise levels open too (the member guide), each by how many registered products it
        // covers, which the portal checks as the member chooses: the invitation once listed the standard levels alone.
        var enterprise = table is not null && invitation.Points > table.EnterpriseAbovePoints
            ? table.Tiers.Where(t => t.Kind == TierKind.Enterprise).OrderBy(t => t.MaxProducts)
                .Select(t => $"  - {t.Name}: {Invoicing.InvoiceWording.Money(t.AnnualFee)} {t.Currency} a year{(t.MaxProducts is { } most ? $" (up to {most} products)" : "")}").ToList()
            : [];
        var enterpriseLevels = enterprise.Count == 0 ? "" : $"""


            With more than {table!.EnterpriseAbovePoints} points the enterprise levels are open to you too, each for as many registered products as it covers (switch "Available CPS levels" to the enterprise list):
            {string.Join("\n", enterprise)}
            """;

        // The same invitation always has the same Message-Id, so a redelivery is recognisably the same e-mail; a resend by support is
        // a new e-mail of its own.
        var messageId = resendId is { } resend
            ? $"invitation-{invitation.InvitationId:N}-resent-{resend:N}@cpsledger"
            : $"invitation-{invitation.InvitationId:N}@cpsledger";
        return MemberEmails.Plain(account, messageId, "You are invited to join Canon Professional Services", $"""
                        Dear {account.CompanyName},

                        Your business account has {PointsFrom(invitation.Points, pointsNow)}, so you are invited to join Canon Professional Services (CPS).

                        Levels you can choose now:
                        {string.Join("\n", standard)}{enterpriseLevels}

                        What to do next:
                          1. Sign in to the CPS portal and open "Available CPS levels".
                          2. Choose a level and a payment method (card or bank transfer).
                          3. Your membership starts at once and you receive your membership number.
                             The invoice follows within a few hours; a card is charged on the invoice
                             due date.

                        This invitation stands while your account has at least {table?.InvitationThreshold ?? 500} points.

                        Canon Professional Services
                        """);
    }

    // Where the points come from, truthfully: a total reached with support's adjustments is not "from registered products". Points
    // that changed since the invitation no longer split its total, so then both sources are named without figures.
    private static string PointsFrom(int points, AccountSummary? now) => now switch
    {
        { ManualAdjustmentPoints: 0 } when now.PointsTotal == points => $"{points} points from registered products",
        { } when now.PointsTotal == points =>
            $"{points} points: {points - now.ManualAdjustmentPoints} from registered products and {now.ManualAdjustmentPoints} from adjustments by CPS",
        _ => $"{points} points from your registered products and any adjustments by CPS",
    };
}
