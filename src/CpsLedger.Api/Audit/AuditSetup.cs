using Marten;
using Weasel.Core;
using Weasel.Core.Migrations;

namespace CpsLedger.Api.Audit;

public static class AuditSetup
{
    public static void AddAudit(this WebApplicationBuilder builder)
    {
        builder.Services.AddSingleton<ChainVerification>();
        builder.Services.AddSingleton<Verification>();
    }

    /// <summary>
    /// The hash chain table, function and trigger are part of the schema (and so of the migrations). Registered as a feature of
    /// its own because Marten applies such features after the event tables, which the trigger is created on.
    /// </summary>
    public static void AddAuditSchema(this StoreOptions opts) =>
        opts.Storage.Add(new HashChainFeature(opts.Events.DatabaseSchemaName, opts.Advanced.Migrator));
}

public sealed class HashChainFeature(string schema, Migrator migrator) : FeatureSchemaBase("HashChain", migrator)
{
    protected override IEnumerable<ISchemaObject> schemaObjects()
    {
        yield return new HashChainSchema(schema);
    }
}
