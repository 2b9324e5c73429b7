using System.Net;
using System.Text.Json;
using CpsLedger.Api.Invoicing;
using CpsLedger.Api.Membership;
using CpsLedger.Api.Platform;
using CpsLedger.Tests.Harness;
using CpsLedger.Tests.Invoicing;
using CpsLedger.Tests.Products;

namespace CpsLedger.Tests.Membership;

/// <summary>
/// What the portal shows a member for the renewal (<c>membership.renewalOptions</c>) is what the renewal choice accepts: once offered,
/// the offer's tier table, not one published since (docs/programme.md, "which tier table"). Read as the portal reads the JSON.
/// </summary>
public sealed class RenewalOptionsTests(LedgerApp app) : LedgerTest(app)
{
    private HttpClient Support => App.ClientAs(LedgerRoles.Support);
    private HttpClient Finance => App.ClientAs(LedgerRoles.Finance);

    private Task<AccountMembership> Membership(Guid account) =>
        Support.GetAsync($"/api/accounts/{account}/membership").ReadAs<AccountMembership>();

    // A card member on Gold (1,000 points; the defaults: Silver 100, Gold 200, Platinum 350) before its renewal offer.
    private async Task<(Guid Account, HttpClient Member, MembershipTerm Term)> GoldCardMember()
    {
        var (account, member) = await App.MemberWithItsJoiningInvoice("EE", "card", SandboxPaymentGateway.Approve);
        return (account, member, (await Membership(account)).Membership!);
    }

    private static async Task<JsonElement> Json(Task<HttpResponseMessage> response) => await (await response).ShouldBe(HttpStatusCode.OK);

    private static string[] Codes(JsonElement list) => [.. list.EnumerateArray().Select(t => t.GetProperty("code").GetString()!)];

    private static (string Code, decimal Fee, bool Eligible)[] Tiers(JsonElement list) =>
        [.. list.EnumerateArray().Select(t => (t.GetProperty("code").GetString()!, t.GetProperty("annualFee").GetDecimal(), t.GetProperty("eligible").GetBoolean()))];

    [Fact]
    public async Task After_a_new_table_the_renewal_options_are_the_offers_tiers_at_its_fees_and_the_choice_accepts_each_eligible_one()
    {
        // Offered Gold on the defaults; then finance drops Gold (for Gold Plus) and raises Silver to 110. The portal showed the new
        // table (Gold Plus, Silver at 110), which the renewal choice refuses (400) or charges differently (100, not 110).
        var (account, member, term) = await GoldCardMember();
        await App.FastForwardPastTheOffer(term);
        var offeredOn = (await Membership(account)).Renewal!.Proposed!.TierTableVersion;
        await App.PublishTierTable(Billing.TierTableWithoutGold(goldPlusPoints: 1000));

        var tiers = await Json(member.GetAsync($"/api/accounts/{account}/eligible-tiers"));
        // The top-level lists stay the table in force: what an upgrade or a join is decided on.
        Assert.Equal(offeredOn + 1, tiers.GetProperty("tierTableVersion").GetInt64());
        Assert.Equal([("silver", 110m, true), ("gold_plus", 260m, true), ("platinum", 350m, false)], Tiers(tiers.GetProperty("standard")));

        var options = tiers.GetProperty("membership").GetProperty("renewalOptions");
        Assert.Equal("offer", options.GetProperty("table").GetString());
        Assert.Equal(offeredOn, options.GetProperty("tierTableVersion").GetInt64());
        Assert.Equal([("silver", 100m, true), ("gold", 200m, true), ("platinum", 350m, false)], Tiers(options.GetProperty("standard")));
        Assert.Equal("needs 1600 points, has 1000", options.GetProperty("standard")[2].GetProperty("whyNot").GetString());
        Assert.Equal(["enterprise_a", "enterprise_b", "enterprise_c"], Codes(options.GetProperty("enterprise")));
        Assert.All(options.GetProperty("enterprise").EnumerateArray(), t => Assert.False(t.GetProperty("eligible").GetBoolean()));

        // The explanation and time travel show the same options.
        var explained = await Json(member.GetAsync($"/api/accounts/{account}/points-explanation"));
        Assert.Equal(options.GetRawText(), explained.GetProperty("membership").GetProperty("renewalOptions").GetRawText());
        var at = Uri.EscapeDataString(DateTimeOffset.UtcNow.AddMinutes(1).ToString("O"));
        var asOf = await Json(member.GetAsync($"/api/accounts/{account}/as-of?timestamp={at}"));
        Assert.Equal(options.GetRawText(), asOf.GetProperty("eligibleTiers").GetProperty("membership").GetProperty("renewalOptions").GetRawText());

        // Each tier listed as eligible is accepted, at the fee listed, and the options stay on the offer's table.
        foreach (var (code, fee, _) in Tiers(options.GetProperty("standard")).Where(t => t.Eligible))
        {
            var plan = await App.Tracked(() => member.PutJson($"/api/accounts/{account}/membership/renewal", new { renew = true, tier = code })
                .ReadAs<RenewalPlan>());
            Assert.Equal((code, fee), (plan.Tier, plan.AnnualFee));
            var after = (await Json(member.GetAsync($"/api/accounts/{account}/eligible-tiers"))).GetProperty("membership").GetProperty("renewalOptions");
            Assert.Equal(options.GetRawText(), after.GetRawText());
        }
    }

    [Fact]
    public async Task A_tier_only_a_later_table_has_is_refused_naming_the_table_the_renewal_was_offered_on_and_its_tiers()
    {
        // Before: "There is no tier "gold_plus". Tiers: silver, gold, platinum, ...", to a member the portal had just shown Gold Plus.
        var (account, member, term) = await GoldCardMember();
        await App.FastForwardPastTheOffer(term);
        var offeredOn = (await Membership(account)).Renewal!.Proposed!.TierTableVersion;
        await App.PublishTierTable(Billing.TierTableWithoutGold(goldPlusPoints: 1000));

        var problem = await member.PutJson($"/api/accounts/{account}/membership/renewal", new { renew = true, tier = "gold_plus" })
            .ReadProblem(HttpStatusCode.BadRequest);
        // The body's field, as for any unknown tier.
        var error = Assert.Single(Assert.Single(problem.Errors, e => e.Key == "tier").Value);
        Assert.Contains($"the tier table your renewal was offered on (published ", error);
        Assert.Contains($"version {offeredOn}); it has Silver, Gold, Platinum, Enterprise A, Enterprise B, Enterprise C.", error);
        Assert.EndsWith("Gold Plus is in the tier table published since, which applies from your next renewal offer.", error);

        // A code no table has: the same table and tiers, without naming a tier.
        error = Assert.Single((await member.PutJson($"/api/accounts/{account}/membership/renewal", new { renew = true, tier = "bronze" })
            .ReadProblem(HttpStatusCode.BadRequest)).Errors["tier"]);
        Assert.Contains("it has Silver, Gold, Platinum", error);
        Assert.EndsWith("A tier table published since applies from your next renewal offer.", error);
    }

    [Fact]
    public async Task An_upgrade_is_decided_on_the_table_in_force_and_the_renewal_options_then_follow_the_upgrades_table()
    {
        var (account, member, term) = await GoldCardMember();
        await App.FastForwardPastTheOffer(term);
        var offeredOn = (await Membership(account)).Renewal!.Proposed!.TierTableVersion;
        await App.PublishTierTable(Billing.TierTableWithoutGold(goldPlusPoints: 1000));

        // Gold Plus is only in the new table: an upgrade takes effect at once, so it is decided on the table in force (the top-level lists).
        var upgraded = await App.Tracked(() => member.PostJson($"/api/accounts/{account}/membership/upgrade", new { tier = "gold_plus" })
            .ReadAs<TierUpgradeConfirmation>());
        Assert.Equal(("gold_plus", 260m), (upgraded.Tier, upgraded.AnnualFee));

        // A card renewal the member did not choose follows the upgraded tier, recorded with the upgrade's table: the choice now reads that
        // table, and the renewal options say so.
        var tiers = await Json(member.GetAsync($"/api/accounts/{account}/eligible-tiers"));
        var options = tiers.GetProperty("membership").GetProperty("renewalOptions");
        Assert.Equal(("offer", offeredOn + 1), (options.GetProperty("table").GetString(), options.GetProperty("tierTableVersion").GetInt64()));
        Assert.Equal(tiers.GetProperty("standard").GetRawText(), options.GetProperty("standard").GetRawText());
        var plan = await App.Tracked(() => member.PutJson($"/api/accounts/{account}/membership/renewal", new { renew = true, tier = "silver" })
            .ReadAs<RenewalPlan>());
        Assert.Equal(("silver", 110m), (plan.Tier, plan.AnnualFee));
    }

    [Fact]
    public async Task Without_a_new_table_the_renewal_options_are_the_top_level_lists_and_cost_no_extra_round_trip()
    {
        var (account, member, term) = await GoldCardMember();
        var url = $"/api/accounts/{account}/eligible-tiers";

        // Before the offer: the table in force applies, and says so.
        var before = await Json(member.GetAsync(url));
        var options = before.GetProperty("membership").GetProperty("renewalOptions");
        Assert.Equal(("in_force", before.GetProperty("tierTableVersion").GetInt64()),
            (options.GetProperty("table").GetString(), options.GetProperty("tierTableVersion").GetInt64()));
        Assert.Equal(before.GetProperty("standard").GetRawText(), options.GetProperty("standard").GetRawText());
        Assert.Equal(before.GetProperty("enterprise").GetRawText(), options.GetProperty("enterprise").GetRawText());
        var beforeOffer = await SentStatements.OfGet(member, url);
        var explanationBeforeOffer = await SentStatements.OfGet(member, $"/api/accounts/{account}/points-explanation");

        // Offered on the table in force: the offer's table, which is the same one, and nothing more is read.
        await App.FastForwardPastTheOffer(term);
        var offered = await Json(member.GetAsync(url));
        options = offered.GetProperty("membership").GetProperty("renewalOptions");
        Assert.Equal(("offer", offered.GetProperty("tierTableVersion").GetInt64()),
            (options.GetProperty("table").GetString(), options.GetProperty("tierTableVersion").GetInt64()));
        Assert.Equal(offered.GetProperty("standard").GetRawText(), options.GetProperty("standard").GetRawText());
        Assert.Equal(offered.GetProperty("enterprise").GetRawText(), options.GetProperty("enterprise").GetRawText());
        Assert.Equal(beforeOffer.Count, (await SentStatements.OfGet(member, url)).Count);
        Assert.Equal(explanationBeforeOffer.Count, (await SentStatements.OfGet(member, $"/api/accounts/{account}/points-explanation")).Count);

        // A table published since: one round trip more, for the offer's table (from the tier table's stream).
        await App.PublishTierTable(Billing.TierTableWithoutGold(goldPlusPoints: 1000));
        var newTable = await SentStatements.OfGet(member, url);
        Assert.Equal(beforeOffer.Count + 1, newTable.Count);
        Assert.Equal(explanationBeforeOffer.Count + 1, (await SentStatements.OfGet(member, $"/api/accounts/{account}/points-explanation")).Count);
    }
}
