using System.Net;
using System.Net.Http.Json;
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
        var account = await App.OpenAccountThroughTheClient("Tasemed OÜ", "tiers@example.ee");
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

    [Fact]
    public async Task finance_may_leave_an_enterprise_tiers_points_out_or_send_0_as_before_and_reads_none_back_but_not_another_number()
    {
        var finance = App.ClientAs(LedgerRoles.Finance);
        object Table(object enterprisePoints, string reason) => new
        {
            invitationThreshold = 500,
            enterpriseAbovePoints = 2500,
            reason,
            tiers = new object[]
            {
                new { code = "silver", name = "Silver", kind = "standard", pointsRequired = 500, annualFee = 100m, currency = "EUR" },
                new { code = "enterprise_a", name = "Enterprise A", kind = "enterprise", pointsRequired = enterprisePoints, maxProducts = 25,
                      annualFee = 1000m, currency = "EUR" },
            },
        };

        var refused = await finance.PutJson("/api/tiers", Table(2600, "Enterprise with points")).ReadProblem(HttpStatusCode.BadRequest);
        Assert.Contains("tiers[1].pointsRequired", refused.Errors.Keys);

        var sentZero = await finance.PutJson("/api/tiers", Table(0, "Enterprise sent as before")).ReadAs<Api.Tiers.TierTableView>();
        Assert.Null(sentZero.Tiers.Single(t => t.Code == "enterprise_a").PointsRequired);
        var table = await new LedgerClient(App.ClientAs(LedgerRoles.Portal)).GetTierTableAsync();
        Assert.Equal(sentZero.TableVersion, table.TableVersion);
        Assert.Equal("null", Shown(table.Tiers.Single(t => t.Code == "enterprise_a").PointsRequired));

        // The same table with the points left out is the same table: nothing new is published.
        var again = await finance.SendAsync(new HttpRequestMessage(HttpMethod.Put, "/api/tiers")
        {
            Content = JsonContent.Create(new
            {
                invitationThreshold = 500,
                enterpriseAbovePoints = 2500,
                reason = "Enterprise left out",
                tiers = new object[]
                {
                    new { code = "silver", name = "Silver", kind = "standard", pointsRequired = 500, annualFee = 100m, currency = "EUR" },
                    new { code = "enterprise_a", name = "Enterprise A", kind = "enterprise", maxProducts = 25, annualFee = 1000m, currency = "EUR" },
                },
            }),
        }).ReadAs<Api.Tiers.TierTableView>();
        Assert.Equal(sentZero.TableVersion, again.TableVersion);
    }

    private static string Shown(int? points) => points?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "null";
}
