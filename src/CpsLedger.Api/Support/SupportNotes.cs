using System.Security.Claims;
using System.Text.Json;
using CpsLedger.Api.Accounts;
using CpsLedger.Api.Membership;
using CpsLedger.Api.Platform;
using CpsLedger.Api.Products;
using Marten;

namespace CpsLedger.Api.Support;

/// <summary>
/// Support's reasons are notes for the audit trail and may be internal (docs/security.md, "Who and why"): support, auditors and
/// finance read them; the account's member, and the portal that shows the member its account, read that CPS support made a
/// change and its ticket (the member's own), never why. One rule for every read that would quote them: the history, the points
/// explanation, the membership and time travel.
/// </summary>
public static class SupportNotes
{
    /// <summary>How a membership support cancelled ended, as the member reads it (and as its e-mail says it).</summary>
    public const string CancelledBySupport = "cancelled by CPS support";

    /// <summary>Whether the caller reads support's reasons: staff do; a member and the portal do not.</summary>
    public static bool ReadsReasons(ClaimsPrincipal user) =>
        user.IsInRole(LedgerRoles.Support) || user.IsInRole(LedgerRoles.Auditor) || user.IsInRole(LedgerRoles.Finance);

    /// <summary>Support's words on a membership it cancelled, which <see cref="AccountMembership"/> keeps for staff.</summary>
    public static string CancelledBySupportBecause(string reason) => $"{CancelledBySupport} ({reason})";

    /// <summary>
    /// The explanation as <paramref name="user"/> reads it: a line support wrote keeps its ticket, not support's reason, and names
    /// the role that acted, not the person (<see cref="StaffNames"/>).
    /// </summary>
    public static PointsExplanation For(ClaimsPrincipal user, PointsExplanation explanation) => ReadsReasons(user)
        ? explanation
        : explanation with { Lines = AsMemberReads(explanation.Lines) };

    /// <summary>
    /// My Products as <paramref name="user"/> reads them: each product's points lines as the explanation shows them. The views are
    /// read from a query session, which stores nothing: their lines are replaced in place.
    /// </summary>
    public static IReadOnlyList<ProductView> For(ClaimsPrincipal user, IReadOnlyList<ProductView> products) =>
        For(user, products, products.SelectMany(p => p.PointsLines));

    /// <summary>
    /// A page of My Products as <paramref name="user"/> reads it: who is staff told from <paramref name="everyLine"/>, the lines of
    /// every product the whole list has, as the whole list tells it; a page alone could name a member of staff whose marks are on
    /// another page.
    /// </summary>
    public static IReadOnlyList<ProductView> For(ClaimsPrincipal user, IReadOnlyList<ProductView> products, IEnumerable<PointsLine> everyLine)
    {
        if (ReadsReasons(user))
            return products;
        var staff = StaffNames.Of(everyLine);
        foreach (var product in products)
            product.PointsLines = [.. product.PointsLines.Select(l => AsMemberReads(l, staff))];
        return products;
    }

    private static List<PointsLine> AsMemberReads(IReadOnlyList<PointsLine> lines)
    {
        var staff = StaffNames.Of(lines);
        return [.. lines.Select(l => AsMemberReads(l, staff))];
    }

    private static PointsLine AsMemberReads(PointsLine line, StaffNames.Staff staff) =>
        WithoutSupportsReason(line) with { By = staff.Shown(line.By, null, line.Role), CausedBy = staff.Shown(line.CausedBy) };

    /// <summary>The membership as <paramref name="user"/> reads it: a term support cancelled says so, without support's reason.</summary>
    public static AccountMembership For(ClaimsPrincipal user, AccountMembership membership) => ReadsReasons(user)
        ? membership
        : membership with { PastMemberships = [.. membership.PastMemberships.Select(WithoutSupportsReason)] };

    // A line with a ticket is support's: an adjustment's or allocation's reason is support's own; a removal's is the event's own
    // reason with support's appended after "; support: " (ProductViewProjection), and the event's own part stays.
    private static PointsLine WithoutSupportsReason(PointsLine line)
    {
        if (line.TicketReference is null || line.Reason is null)
            return line;
        var own = line.Event == nameof(PointsRemoved) ? line.Reason.IndexOf(SupportSeparator, StringComparison.Ordinal) : -1;
        return line with { Reason = own > 0 ? line.Reason[..own] : null };
    }

    /// <summary>What <see cref="ProductViewProjection"/> puts between a removal's own reason and support's.</summary>
    public const string SupportSeparator = "; support: ";

    private static MembershipTerm WithoutSupportsReason(MembershipTerm term) =>
        term.EndedBecause is { } because && because.StartsWith(CancelledBySupport + " (", StringComparison.Ordinal)
            ? term with { EndedBecause = CancelledBySupport }
            : term;
}

/// <summary>
/// <b>Decision</b> (docs/security.md, "Who and why"): a member of staff's user name (a support agent's or a finance person's token
/// <c>sub</c>) is an internal identifier. Whoever reads support's reasons (<see cref="SupportNotes.ReadsReasons"/>: support,
/// auditors, finance) reads the names as recorded; the account's member and the portal read the role that acted,
/// <see cref="Support"/> or <see cref="Finance"/> (<see cref="Operations"/> for an operator's command, <see cref="SeveralRoles"/> for a
/// request recorded in more than one staff role), in <c>by</c> and in <c>causedBy.user</c>. The member's and the portal's own
/// names and the ledger's (<c>system:...</c>) stay as they are.
/// <para>
/// Since 2026-12-05 every event records the role it was written in (<see cref="ActorRoles"/>: <c>actor_role</c> on what a person's
/// request or command wrote, <c>caused_by_role</c> on what the ledger did because of it), and that is read first
/// (<see cref="NameOf"/>, <see cref="Staff.ShownBy"/>, <see cref="Staff.Shown(CausedBy?)"/>). Events stored before carry no role,
/// nor do points lines projected before their documents were rebuilt (docs/operations.md); for them the rest of this comment holds.
/// </para>
/// <para>
/// Older events record no role, only the user name; what they do record at write time tells staff's requests apart,
/// and that is what the heuristic relies on (a request: the events one user wrote under one correlation id):
/// support's ticket header (support acting on someone's behalf, an adjustment), an event only support writes
/// (<see cref="SupportsEvents"/>), an event only finance writes (<see cref="FinancesEvents"/>), or a reason header on a request
/// with neither of support's marks (only finance writes one then: a credit note, a replacement; a member or the portal never
/// gives a reason). Every event of such a request, and whatever the ledger did because of it (its <c>caused_by</c> names that
/// user and correlation id), is read by the role. A name seen acting as staff on the account is staff's wherever else it appears
/// there (events from before support's requests carried a ticket); a name that never did is shown.
/// </para>
/// </summary>
public static class StaffNames
{
    public const string Support = "CPS support";
    public const string Finance = "CPS finance";
    public const string Audit = "CPS audit";
    public const string Operations = "CPS operations";

    /// <summary>What a request recorded as acting in more than one staff role reads (<see cref="ActorRoles.Decide"/>).</summary>
    public const string SeveralRoles = "CPS staff";

    private static readonly IReadOnlyDictionary<string, string> StaffRoles = new Dictionary<string, string>
    {
        [LedgerRoles.Support] = Support,
        [LedgerRoles.Finance] = Finance,
        [LedgerRoles.Auditor] = Audit,
        [ActorRoles.Operator] = Operations,
    };

    /// <summary>
    /// What the member and the portal read for a recorded role (<c>actor_role</c>, <c>caused_by_role</c>): the staff role's name, or
    /// <see cref="SeveralRoles"/> when the request acted in more than one; null when it names no staff role (a member's, the
    /// portal's: their names are shown).
    /// </summary>
    public static string? NameOf(string recorded)
    {
        var staff = ActorRoles.Split(recorded).Where(StaffRoles.ContainsKey).Distinct().ToList();
        return staff.Count switch
        {
            0 => null,
            1 => StaffRoles[staff[0]],
            _ => SeveralRoles,
        };
    }

    /// <summary>The events that only support writes (their routes admit support alone).</summary>
    public static readonly IReadOnlyList<Type> SupportsEvents =
        [typeof(PointsAdjusted), typeof(OldCpsEmailLinked), typeof(OldCpsEmailUnlinked), typeof(InvitationEmailResent), typeof(MembershipCancelled)];

    /// <summary>The events that, written by a person, only finance writes (a card payment is the ledger's, <c>system:...</c>).</summary>
    public static readonly IReadOnlyList<Type> FinancesEvents =
    [
        typeof(Invoicing.PaymentReceived), typeof(Invoicing.PaymentReceivedAfterCancellation), typeof(Invoicing.RefundPaid),
        typeof(Invoicing.InvoiceReplaced), typeof(Tiers.TierTablePublished), typeof(Invoicing.VatRatesPublished),
    ];

    /// <summary>A request known to be staff's: the user, its correlation id and the role it acted in.</summary>
    public sealed record Act(string User, string? CorrelationId, string Role);

    /// <summary>Who on an account is staff, and what the member and the portal read instead of their names.</summary>
    public sealed class Staff(IReadOnlyDictionary<(string User, string? CorrelationId), string> requests, IReadOnlyDictionary<string, string> names,
        bool asRecorded = false)
    {
        /// <summary>For a reader who reads every name as recorded (support, auditors, finance).</summary>
        public static readonly Staff None = new(new Dictionary<(string, string?), string>(), new Dictionary<string, string>(), asRecorded: true);

        /// <summary>For the member, where every event read records its role (<see cref="Recorded"/>): no marks needed.</summary>
        public static readonly Staff ByRecordedRoles = new(new Dictionary<(string, string?), string>(), new Dictionary<string, string>());

        /// <summary>The role for a member of staff's name (the role of that request where known), anyone else's name as it is.</summary>
        public string? Shown(string? user, string? correlationId) =>
            user is null ? null
            : requests.TryGetValue((user, correlationId), out var role) || names.TryGetValue(user, out role) ? role
            : user;

        /// <summary>The role recorded with the name where there is one (<see cref="NameOf"/>), else as <see cref="Shown(string?, string?)"/>.</summary>
        public string? Shown(string? user, string? correlationId, string? recordedRole) =>
            asRecorded || user is null || recordedRole is null ? Shown(user, correlationId) : NameOf(recordedRole) ?? user;

        /// <summary>Who wrote an event, as the member reads it: by the role recorded on it, else by the marks of older events.</summary>
        public string? ShownBy(JasperFx.Events.IEvent e) => Shown(e.UserName, e.CorrelationId, ActorRoles.Of(e));

        public CausedBy? Shown(CausedBy? cause) => cause is null ? null : cause with { User = Shown(cause.User, cause.CorrelationId, cause.Role) };
    }

    /// <summary>
    /// Per request, support's mark outweighs finance's (support's cancellation writes a credit note with its reason); a name that acted
    /// in both roles is named by the request where known, otherwise as support.
    /// </summary>
    public static Staff Of(IEnumerable<Act> acts)
    {
        var list = acts.ToList();
        static string Either(IEnumerable<Act> some) => some.Any(a => a.Role == Support) ? Support : Finance;
        return new Staff(list.GroupBy(a => (a.User, a.CorrelationId)).ToDictionary(g => g.Key, Either),
            list.GroupBy(a => a.User).ToDictionary(g => g.Key, Either));
    }

    /// <summary>The staff of points lines: a line with a ticket is support's (an adjustment, support's registration, amendment or
    /// deregistration for the member; none has a reason without one).</summary>
    public static Staff Of(IEnumerable<PointsLine> lines) => Of(lines
        .Where(l => l.TicketReference is not null && l.By is not null && !l.By.StartsWith(SystemActor.Prefix, StringComparison.Ordinal))
        .Select(l => new Act(l.By!, null, Support)));

    /// <summary>
    /// Whether an event is read by recorded roles alone: a person's records the role they acted in, and the request it names as its
    /// cause (the ledger's, set off by a person) records one too. Otherwise the member's read needs the marks (<see cref="ReadAsync"/>).
    /// </summary>
    public static bool Recorded(JasperFx.Events.IEvent e) =>
        (!IsPerson(e.UserName) || ActorRoles.Of(e) is not null)
        && (SystemActor.CausedByOf(e) is not { } cause || !IsPerson(cause.User) || cause.Role is not null);

    private static bool IsPerson(string? user) => user is not null && !user.StartsWith(SystemActor.Prefix, StringComparison.Ordinal);

    /// <summary>One event a person wrote with a mark of staff's (<see cref="ReadAsync"/>).</summary>
    public sealed record Marked(string User, string? CorrelationId, string Type, bool Ticket);

    /// <summary>The role a marked event says: support's ticket or event, otherwise finance's event or a reason (finance's, unless
    /// the request is support's: <see cref="Of(IEnumerable{Act})"/>).</summary>
    public static string RoleOf(Marked e, IReadOnlySet<string> supports) => e.Ticket || supports.Contains(e.Type) ? Support : Finance;

    /// <summary>
    /// The staff of an account's history: the marked events on its streams (and <paramref name="sequences"/> elsewhere), and on the
    /// tier table's stream, whose publication by finance sets off invitations and withdrawals on the account.
    /// </summary>
    public static async Task<Staff> ReadAsync(IQuerySession session, IReadOnlyCollection<Guid> streams, IReadOnlyCollection<long> sequences,
        CancellationToken ct)
    {
        var events = (Marten.Events.EventGraph)session.DocumentStore.Options.Events;
        var supports = SupportsEvents.Select(t => events.EventMappingFor(t).EventTypeName).ToHashSet();
        var finances = FinancesEvents.Select(t => events.EventMappingFor(t).EventTypeName).ToHashSet();
        // One row per user, request, type and ticket; a JSON text each, as a query session reads scalars. A reason alone needs no
        // column: it selects the row, and a row without support's marks is finance's.
        var rows = await session.QueryAsync<string>(
            "select distinct jsonb_build_object('User', user_name, 'CorrelationId', correlation_id, 'Type', type, " +
            $"'Ticket', headers ->> '{SupportReason.TicketHeader}' is not null)::text " +
            $"from {events.DatabaseSchemaName}.mt_events where (stream_id = any(?) or seq_id = any(?)) and user_name is not null " +
            "and left(user_name, ?) <> ? " +
            $"and (headers ->> '{SupportReason.TicketHeader}' is not null or headers ->> '{SupportReason.ReasonHeader}' is not null or type = any(?))",
            ct, streams.Append(Tiers.TierTableStream.Id).ToArray(), sequences.ToArray(), SystemActor.Prefix.Length, SystemActor.Prefix,
            supports.Concat(finances).ToArray());
        var marked = rows.Select(r => JsonSerializer.Deserialize<Marked>(r)!).ToList();
        return Of(marked.Select(e => new Act(e.User, e.CorrelationId, RoleOf(e, supports))));
    }
}
