using CpsLedger.Api.Platform;
using CpsLedger.Tests.Contract.Generated;
using CpsLedger.Tests.Harness;
using CpsLedger.Tests.Products;

namespace CpsLedger.Tests.Contract;

/// <summary>
/// A portal shows the tier table (GET /api/tiers) and the account's eligibility (GET .../eligible-tiers) side by side: the same
/// tier must read the same in both, through the generated client a portal builds on.
/// </summary>
public sealed class TierReadingTests(LedgerApp app) : LedgerTest(app)
{
    [Fact]
    public async Task a_tier_reads_the_same_in_the_tier_table_and_in_the_eligibility()
    {
        var portal = new LedgerClient(App.ClientAs(LedgerRoles.Portal));
        var account = (await portal.OpenBusinessAccountAsync(new OpenBusinessAccount
        {
            CompanyName = "Tasemed OÜ",
            ContactEmail = "tiers@example.ee",
            Country = "EE",
        })).AccountId;
        var member = new LedgerClient(App.Member(account));

        var table = await member.GetTierTableAsync();
        var eligibility = await member.GetEligibleTiersAsync(account);
        var listed = eligibility.Standard.Concat(eligibility.Enterprise).ToDictionary(t => t.Code);

        Assert.Equal(table.Tiers.Select(t => t.Code).Order(), listed.Keys.Order());
        Assert.Contains(table.Tiers, t => t.Kind == TierKind.Enterprise);
        foreach (var tier in table.Tiers)
        {
            var shown = listed[tier.Code];
            Assert.Equal((tier.Name, tier.Kind, tier.AnnualFee, tier.Currency, tier.MaxProducts),
                (shown.Name, shown.Kind, shown.AnnualFee, shown.Currency, shown.MaxProducts));
            Assert.True(tier.PointsRequired == shown.PointsRequired,
                $"{tier.Code}: pointsRequired {Shown(tier.PointsRequired)} in the tier table, {Shown(shown.PointsRequired)} in the eligibility");
        }
    }

    [Fact]
    public async Task an_enterprise_tier_has_no_points_requirement_of_its_own_the_table_threshold_says_it()
    {
        var table = await new LedgerClient(App.ClientAs(LedgerRoles.Portal)).GetTierTableAsync();

        // Enterprise tiers need more than enterpriseAbovePoints: a pointsRequired of 0 would read "no points needed".
        Assert.All(table.Tiers.Where(t => t.Kind == TierKind.Enterprise), t => Assert.Equal("null", Shown(t.PointsRequired)));
        Assert.All(table.Tiers.Where(t => t.Kind == TierKind.Standard), t => Assert.True(t.PointsRequired > 0));
        Assert.Equal(2500, table.EnterpriseAbovePoints);
    }

    private static string Shown(int? points) => points?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "null";
}
