using JasperFx.Events.Projections;
using Marten;
using Microsoft.AspNetCore.OpenApi;

namespace CpsLedger.Api.Migration;

public static class MigrationSetup
{
    public static void AddMigration(this StoreOptions opts)
    {
        // Inline: an import batch reads what the previous one wrote, and the migration fetches it for writing (its version
        // is what two concurrent migrations race on).
        opts.Projections.Add<LegacyAccountViewProjection>(ProjectionLifecycle.Inline);
        // A join skips a number an old CPS account has (MembershipNumberClaims.IsTakenAsync): an index lookup, not a scan.
        opts.Schema.For<LegacyAccountView>().Index(x => x.OldMembershipNumber);
    }

    /// <summary>The legacy import's request body in the OpenAPI document (the endpoint reads the file raw).</summary>
    public static void AddMigration(this WebApplicationBuilder builder) =>
        builder.Services.Configure<OpenApiOptions>("v1", o => o.AddOperationTransformer<ImportLegacyAccountsRequestBody>());
}
