using System.Security.Cryptography;
using System.Text;
using Marten.Events.Aggregation;

namespace CpsLedger.Api.Tiers;

/// <summary>Standard tiers are reached by points; enterprise tiers by more points than the table's enterprise threshold and a
/// limit on registered products.</summary>
public enum TierKind
{
    Standard,
    Enterprise,
}

/// <summary>One CPS level as the programme defines it.</summary>
/// <param name="Code">Stable code members choose by, e.g. "gold".</param>
/// <param name="PointsRequired">Standard tiers: allocated points needed (at least). Null for an enterprise tier, which has no points
/// requirement of its own: every enterprise tier needs more than the table's <c>enterpriseAbovePoints</c>.</param>
/// <param name="MaxProducts">Enterprise tiers: how many registered products the membership covers (at most).</param>
/// <param name="AnnualFee">Fee per one-year term, in <paramref name="Currency"/> (ISO 4217).</param>
/// <param name="Name">The tier's name as members see it.</param>
/// <param name="Kind">Standard (reached by points) or enterprise (points above the threshold, a limit on products).</param>
/// <param name="Currency">ISO 4217 code of the fee, e.g. "EUR".</param>
public sealed record TierDefinition(
    string Code,
    string Name,
    TierKind Kind,
    int? PointsRequired,
    int? MaxProducts,
    decimal AnnualFee,
    string Currency)
{
    /// <summary>
    /// The tier as it reads everywhere: an enterprise tier without points of its own. Tables published before 2026-12-05 (and
    /// finance's requests following the docs of then) give such a tier 0 points, which read as "no points needed".
    /// </summary>
    public TierDefinition Normalised() => Kind == TierKind.Enterprise && PointsRequired is not null ? this with { PointsRequired = null } : this;
}

/// <summary>
/// A version of the tier table was published (the defaults on first start, or a change by operations). Decisions and
/// memberships record the version they used: the tier table stream's version.
/// </summary>
/// <param name="InvitationThreshold">Allocated points at which an account is invited to join (500).</param>
/// <param name="EnterpriseAbovePoints">Enterprise tiers are selectable only with more than this many points (2500).</param>
public sealed record TierTablePublished(
    int InvitationThreshold,
    int EnterpriseAbovePoints,
    IReadOnlyList<TierDefinition> Tiers,
    string Reason,
    DateTimeOffset PublishedAt);

public static class TierTableStream
{
    /// <summary>The one tier table stream (a fixed, name-derived id).</summary>
    public static readonly Guid Id = new(MD5.HashData(Encoding.UTF8.GetBytes("cpsledger:tier-table")));

    /// <summary>The programme's published defaults (see cps-programme.md): trade-press figures for Europe, 2023.</summary>
    public static TierTablePublished Defaults(DateTimeOffset now) => new(
        500,
        2500,
        [
            new TierDefinition("silver", "Silver", TierKind.Standard, 500, null, 100m, "EUR"),
            new TierDefinition("gold", "Gold", TierKind.Standard, 1000, null, 200m, "EUR"),
            new TierDefinition("platinum", "Platinum", TierKind.Standard, 1600, null, 350m, "EUR"),
            new TierDefinition("enterprise_a", "Enterprise A", TierKind.Enterprise, null, 25, 1000m, "EUR"),
            new TierDefinition("enterprise_b", "Enterprise B", TierKind.Enterprise, null, 100, 2500m, "EUR"),
            new TierDefinition("enterprise_c", "Enterprise C", TierKind.Enterprise, null, 250, 5000m, "EUR"),
        ],
        "Programme defaults loaded on first start",
        now);

    /// <summary>
    /// The table as it was at a version (the version a decision recorded), from the stream's events; null when the stream has no such
    /// version. Each publication is a whole table, so a decision made on an earlier version can be judged again on it.
    /// </summary>
    public static async Task<TierTableView?> AtVersionAsync(Marten.IQuerySession session, long version, CancellationToken ct)
    {
        if (version < 1)
            return null;
        return AtVersion(await session.Events.FetchStreamAsync(Id, version, token: ct), version);
    }

    /// <summary>The same from events already read (the stream's, in order; others and later ones are left out): no round trip.</summary>
    public static TierTableView? AtVersion(IEnumerable<JasperFx.Events.IEvent> events, long version)
    {
        TierTableView? view = null;
        foreach (var published in events.Where(e => e.StreamId == Id && e.Version <= version).Select(e => e.Data).OfType<TierTablePublished>())
            view = view is null ? TierTableViewProjection.Create(published) : TierTableViewProjection.Apply(view, published);
        return view?.TableVersion == version ? view : null;
    }
}

/// <summary>The tier table in force, with its version.</summary>
public sealed class TierTableView
{
    /// <summary>The tier table stream's id (there is one).</summary>
    public Guid Id { get; set; }
    /// <summary>The table's version: decisions record the version they used.</summary>
    public long TableVersion { get; set; }
    /// <summary>Allocated points at which an account is invited to join.</summary>
    public int InvitationThreshold { get; set; }
    /// <summary>Enterprise tiers need more points than this.</summary>
    public int EnterpriseAbovePoints { get; set; }
    /// <summary>Every tier, standard and enterprise.</summary>
    public List<TierDefinition> Tiers
    {
        get => _tiers;
        // A view stored before 2026-12-05 gives an enterprise tier 0 points: read as every later one, without a rebuild.
        set => _tiers = [.. value.Select(t => t.Normalised())];
    }

    private List<TierDefinition> _tiers = [];
    /// <summary>When this version was published, UTC.</summary>
    public DateTimeOffset PublishedAt { get; set; }
    /// <summary>Why it was published, as operations wrote it.</summary>
    public string Reason { get; set; } = "";
}

public sealed partial class TierTableViewProjection : SingleStreamProjection<TierTableView, Guid>
{
    public static TierTableView Create(TierTablePublished e) => Apply(new TierTableView { Id = TierTableStream.Id }, e);

    // Returns a new view rather than changing the one given: the endpoint that publishes also uses it to answer, and must
    // not touch the instance Marten is about to project onto.
    public static TierTableView Apply(TierTableView view, TierTablePublished e) => new()
    {
        Id = view.Id,
        TableVersion = view.TableVersion + 1,
        InvitationThreshold = e.InvitationThreshold,
        EnterpriseAbovePoints = e.EnterpriseAbovePoints,
        Tiers = [.. e.Tiers], // normalised by the setter, as a stored view is
        PublishedAt = e.PublishedAt,
        Reason = e.Reason,
    };
}
