using CpsLedger.Api.Tiers;

namespace CpsLedger.Tests.Tiers;

/// <summary>Finance's tier table as a pure validation: each mistake is named once, at its own field.</summary>
public sealed class PublishTierTableRulesTests
{
    private static PublishTierTable Table(int threshold, params TierDefinition[] tiers) => new(threshold, 2500, tiers, "2027 price list");

    [Fact]
    public void A_standard_tier_without_points_is_refused_at_its_points_not_with_an_empty_threshold_message()
    {
        var result = new PublishTierTableValidator().Validate(Table(500,
            new TierDefinition("silver", "Silver", TierKind.Standard, null, null, 100m, "EUR")));

        var error = Assert.Single(result.Errors);
        // The service names fields by their JSON path (a global resolver the host sets once a test host has started): either casing.
        Assert.Equal("tiers[0].pointsRequired", error.PropertyName, ignoreCase: true);
        Assert.Equal("A standard tier needs a positive number of points.", error.ErrorMessage);
    }

    [Fact]
    public void A_tier_name_an_invoice_could_not_print_is_refused_at_its_name()
    {
        // "CPS Gold 🦄 membership, annual fee" would print the unicorn as <U+1F984> on every invoice of the tier.
        var result = new PublishTierTableValidator().Validate(Table(500,
            new TierDefinition("gold", "Gold 🦄", TierKind.Standard, 500, null, 200m, "EUR")));

        var error = Assert.Single(result.Errors);
        Assert.Equal("tiers[0].name", error.PropertyName, ignoreCase: true);
        Assert.StartsWith("Invoices print this, and their fonts have no glyph for U+1F984", error.ErrorMessage);
    }

    [Fact]
    public void The_threshold_below_the_lowest_standard_tier_that_has_points_names_that_tier_s_points()
    {
        var result = new PublishTierTableValidator().Validate(Table(400,
            new TierDefinition("silver", "Silver", TierKind.Standard, null, null, 100m, "EUR"),
            new TierDefinition("gold", "Gold", TierKind.Standard, 1000, null, 200m, "EUR"),
            new TierDefinition("bronze", "Bronze", TierKind.Standard, 500, null, 50m, "EUR")));

        var threshold = Assert.Single(result.Errors, e => string.Equals(e.PropertyName, "invitationThreshold", StringComparison.OrdinalIgnoreCase));
        Assert.Equal("Must be at least the points of the lowest standard tier (500): an invited account must have a tier it can join.",
            threshold.ErrorMessage);
    }
}
