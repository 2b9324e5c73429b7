using JasperFx.Events.Projections;
using Marten;

namespace CpsLedger.Api.Tiers;

public static class TiersSetup
{
    public static void AddTiers(this StoreOptions opts) =>
        // Inline: the next eligibility decision after a publication uses the new version.
        opts.Projections.Add<TierTableViewProjection>(ProjectionLifecycle.Inline);
}
