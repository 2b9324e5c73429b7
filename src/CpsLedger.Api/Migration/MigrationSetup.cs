using JasperFx.Events.Projections;
using Marten;

namespace CpsLedger.Api.Migration;

public static class MigrationSetup
{
    public static void AddMigration(this StoreOptions opts)
    {
        // Inline: an import batch reads what the previous one wrote, and the migration fetches it for writing (its version
        // is what two concurrent migrations race on).
        opts.Projections.Add<LegacyAccountViewProjection>(ProjectionLifecycle.Inline);
    }
}
