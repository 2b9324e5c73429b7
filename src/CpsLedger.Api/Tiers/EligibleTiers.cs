using CpsLedger.Api.Accounts;
using CpsLedger.Api.Platform;
using CpsLedger.Api.Products;
using Marten;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Mvc;
using Wolverine.Http;

namespace CpsLedger.Api.Tiers;

/// <summary>One tier as the portal's "Available CPS levels" shows it: eligible or not, and if not, why, with numbers.</summary>
/// <param name="Code">The tier's code, the one a member joins, renews or upgrades with (e.g. "gold").</param>
/// <param name="Name">The tier's name as the portal shows it.</param>
/// <param name="Kind">Standard or enterprise.</param>
/// <param name="AnnualFee">The fee for a one-year term, in <c>currency</c>, before VAT.</param>
/// <param name="Currency">ISO 4217 code of the fee, e.g. "EUR".</param>
/// <param name="PointsRequired">Standard tiers: the points needed (at least). Null for an enterprise tier, as in <c>GET /api/tiers</c>: it
/// has no points of its own (every enterprise tier needs more than the table's <c>enterpriseAbovePoints</c>; <c>whyNot</c> says so).</param>
/// <param name="MaxProducts">Enterprise tiers: how many registered products the membership covers (at most); null for a standard
/// tier.</param>
/// <param name="Eligible">Whether the account's points and products at the moment read (now, or the as-of time) reach this tier
/// (joining, an upgrade and a renewal choice check it again when made).</param>
/// <param name="WhyNot">When not eligible: why, in words with the numbers (e.g. "needs 1000 points, has 640"; an enterprise tier's
/// two reasons joined by "; "); null when eligible.</param>
public sealed record TierEligibility(
    string Code,
    string Name,
    TierKind Kind,
    decimal AnnualFee,
    string Currency,
    int? PointsRequired,
    int? MaxProducts,
    bool Eligible,
    string? WhyNot);

/// <summary>
/// Both lists at once (the portal's standard/enterprise switch picks one), decided with one tier table version: the table in force,
/// which joining and an upgrade are decided on. The renewal choice, once offered, is decided on the offer's table: the membership's
/// <see cref="Membership.MembershipOutlook.RenewalOptions"/>.
/// </summary>
/// <param name="AccountId">The business account.</param>
/// <param name="TierTableVersion">The tier table version every tier here was decided on.</param>
/// <param name="Points">The account's points the decision used.</param>
/// <param name="Products">The account's registered products the decision used (enterprise tiers limit them).</param>
/// <param name="Standard">The standard tiers, fewest points first, each eligible or not and why.</param>
/// <param name="Enterprise">The enterprise tiers, fewest products covered first, each eligible or not and why.</param>
/// <param name="NextStandardTier">The code of the next standard tier the account does not reach yet; null when it reaches the
/// highest.</param>
/// <param name="PointsToNextStandardTier">Points still needed for that tier; null when there is none.</param>
/// <param name="Membership">The membership year (term, renewal, tiers held); null when the account is not a member.</param>
public sealed record EligibleTiers(
    Guid AccountId,
    [property: System.ComponentModel.Description(EligibleTiers.InForceDescription)]
    long TierTableVersion,
    int Points,
    int Products,
    [property: System.ComponentModel.Description("The standard tiers, fewest points first, each eligible or not and why. " +
                                                 EligibleTiers.InForceDescription)]
    IReadOnlyList<TierEligibility> Standard,
    [property: System.ComponentModel.Description("The enterprise tiers, fewest products covered first, each eligible or not and why. " +
                                                 EligibleTiers.InForceDescription)]
    IReadOnlyList<TierEligibility> Enterprise,
    string? NextStandardTier,
    int? PointsToNextStandardTier,
    Membership.MembershipOutlook? Membership = null)
{
    /// <summary>Whether the account is invited to join, and if not why, in the words a join would be refused with; null for an account
    /// with a membership term, whose invitation is spent. The tiers above are decided on points and products alone: a tier can be
    /// eligible while the account, not invited, cannot join it yet.</summary>
    public InvitationStanding? Invitation { get; init; }

    private const string InForceDescription = "Of the tier table in force: what joining and an upgrade are decided on. The renewal choice " +
                                              "is decided on membership.renewalOptions (once offered, the offer's table).";
}

/// <summary>Whether an account without a membership term is invited to join, and if not why.</summary>
/// <param name="Invited">An invitation stands that the account's points still reach: the account may join an eligible tier.</param>
/// <param name="Threshold">The points an invitation needs, in the tier table in force.</param>
/// <param name="WhyNotInvited">When not invited: why, the sentence a join is refused with (e.g. "An account can join once invited: it
/// needs 500 allocated points and has 430."); null when invited.</param>
public sealed record InvitationStanding(bool Invited, int Threshold, string? WhyNotInvited);

public static class Eligibility
{
    /// <summary>
    /// Standard tiers: at least their points. Enterprise tiers: more than the table's enterprise threshold, and no more
    /// registered products than the tier covers. A member may choose any eligible tier, not only the highest.
    /// </summary>
    public static EligibleTiers Decide(Guid accountId, int points, int products, TierTableView table)
    {
        var standard = table.Tiers.Where(t => t.Kind == TierKind.Standard).OrderBy(t => t.PointsRequired)
            .Select(t => Tier(t, points >= t.PointsRequired ? null : $"needs {t.PointsRequired} points, has {points}"))
            .ToList();

        var enterprise = table.Tiers.Where(t => t.Kind == TierKind.Enterprise).OrderBy(t => t.MaxProducts)
            .Select(t =>
            {
                var reasons = new List<string>(2);
                if (points <= table.EnterpriseAbovePoints)
                    reasons.Add($"needs more than {table.EnterpriseAbovePoints} points, has {points}");
                if (products > t.MaxProducts)
                    reasons.Add($"covers {t.MaxProducts} products, account has {products}");
                return Tier(t, reasons.Count == 0 ? null : string.Join("; ", reasons));
            })
            .ToList();

        var next = table.Tiers.Where(t => t.Kind == TierKind.Standard && t.PointsRequired > points).MinBy(t => t.PointsRequired);
        return new EligibleTiers(accountId, table.TableVersion, points, products, standard, enterprise, next?.Code,
            next is null ? null : next.PointsRequired - points);
    }

    private static TierEligibility Tier(TierDefinition t, string? whyNot) => new(
        t.Code, t.Name, t.Kind, t.AnnualFee, t.Currency,
        t.PointsRequired, // null for an enterprise tier, as in the tier table
        t.MaxProducts,
        whyNot is null,
        whyNot);

    /// <summary>The account's eligibility now: its projected products and the tier table in force (no event replay).</summary>
    public static async Task<EligibleTiers> ForAccountAsync(IQuerySession session, Guid accountId, CancellationToken ct)
    {
        var batch = session.CreateBatchQuery();
        var eligibility = ForAccountIn(batch, accountId);
        await batch.Execute(ct);
        return await eligibility;
    }

    /// <summary>Adds what the eligibility is decided on to a batched query; the task completes when the batch has run.</summary>
    public static Task<EligibleTiers> ForAccountIn(Marten.Services.BatchQuerying.IBatchedQuery batch, Guid accountId)
    {
        var sources = AccountPoints.LoadIn(batch, accountId);
        var table = batch.Load<TierTableView>(TierTableStream.Id);
        return Combine(accountId, sources, table);

        static async Task<EligibleTiers> Combine(Guid accountId, Task<AccountPointsSources> sources, Task<TierTableView?> table)
        {
            var summary = AccountPoints.Summarize(accountId, await sources);
            return Decide(accountId, summary.PointsTotal, summary.Products,
                await table ?? throw new InvalidOperationException("The tier table has not been loaded."));
        }
    }
}

public static class GetEligibleTiersEndpoint
{
    [WolverineGet("/api/accounts/{accountId}/eligible-tiers", OperationId = "GetEligibleTiers")]
    [Authorize(Roles = LedgerRoles.Readers)]
    [EndpointSummary("Standard and enterprise tiers, each eligible or not and why, the points to the next standard tier, and the membership's term and renewal")]
    [EndpointDescription("standard and enterprise (and tierTableVersion) are the tier table in force, which joining and an upgrade " +
                         "are decided on. For a member, membership.renewalOptions lists the tiers the renewal choice (PUT " +
                         ".../membership/renewal) accepts now, at the fees it charges, and the table they are from: once the renewal " +
                         "is offered, the table of the offer (table: offer), which a table published since does not change until the " +
                         "next offer; before the offer, the table in force (table: in_force), the same lists as the top-level ones.")]
    [ChecksAccountInItsBatch]
    public static async Task<EligibleTiers> Get(Guid accountId, IDocumentStore store,
        Microsoft.Extensions.Options.IOptions<Membership.MembershipYearOptions> options, CancellationToken ct)
    {
        await using var session = store.QuerySession();
        // The membership in force rides along: its term, its renewal and the tiers an upgrade could go to now. One batched
        // query, the account's existence included.
        var batch = session.CreateBatchQuery();
        var exists = AccountExistence.In(batch, accountId);
        var sources = AccountPoints.LoadIn(batch, accountId);
        var table = batch.Load<TierTableView>(TierTableStream.Id);
        var membership = batch.Load<Membership.AccountMembership>(Membership.MembershipStream.For(accountId));
        await batch.Execute(ct);
        await AccountExistence.EnsureAsync(exists, accountId);
        var inForce = await table ?? throw new InvalidOperationException("The tier table has not been loaded.");
        var summary = AccountPoints.Summarize(accountId, await sources);
        var tiers = Eligibility.Decide(accountId, summary.PointsTotal, summary.Products, inForce);
        // The renewal options need the offer's table only when one was published since the offer: a second round trip then, none
        // otherwise (the offer's table is the one just read).
        var offered = await Membership.RenewalTables.OfferedOnAsync(session, await membership, inForce.TableVersion, ct);
        return tiers with
        {
            Membership = Membership.MembershipOutlook.Of(await membership, tiers, options.Value, inForce, offered),
            Invitation = Membership.InvitationPolicy.Standing(await membership, summary.PointsTotal, inForce),
        };
    }
}
