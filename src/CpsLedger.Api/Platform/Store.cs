using CpsLedger.Api.Accounts;
using CpsLedger.Api.Audit;
using CpsLedger.Api.Catalogue;
using CpsLedger.Api.Invoicing;
using CpsLedger.Api.Membership;
using CpsLedger.Api.Migration;
using CpsLedger.Api.Operations;
using CpsLedger.Api.Products;
using CpsLedger.Api.Support;
using CpsLedger.Api.Tiers;
using JasperFx;
using Weasel.Core;
using JasperFx.CodeGeneration;
using JasperFx.Events;
using JasperFx.Events.Daemon;
using JasperFx.Events.Projections;
using Marten;
using Wolverine;
using Wolverine.Marten;

namespace CpsLedger.Api.Platform;

/// <summary>Marten (event store and documents) and Wolverine (handlers, HTTP, durable outbox) in one place.</summary>
public static class Store
{
    /// <summary>This project's folder in the checkout the running build belongs to, or null outside a checkout (a publish).</summary>
    public static string? SourceProjectDirectory()
    {
        var project = Path.Combine(Database.FindRepositoryRoot(AppContext.BaseDirectory), "src", "CpsLedger.Api");
        return File.Exists(Path.Combine(project, "CpsLedger.Api.csproj")) ? project : null;
    }

    public static void AddLedgerStore(this WebApplicationBuilder builder)
    {
        var development = builder.Environment.IsDevelopment();
        var schema = builder.Configuration["Ledger:SchemaName"] ?? "cpsledger";
        // A missing object of this schema ends a start or a command as a refusal: the schema is not applied (StartRefusal.cs).
        StartRefusal.LedgerSchema = schema;

        builder.Services.AddSingleton(TimeProvider.System);

        builder.Services.CritterStackDefaults(x =>
        {
            x.Development.GeneratedCodeMode = TypeLoadMode.Dynamic;
            x.Development.ResourceAutoCreate = AutoCreate.CreateOrUpdate;
            // Production runs the code committed under Internal/Generated and the schema from eventstore-migrations/.
            x.Production.GeneratedCodeMode = TypeLoadMode.Static;
            x.Production.ResourceAutoCreate = AutoCreate.None;
            x.Production.AssertAllPreGeneratedTypesExist = true;
            // `codegen write` writes into the project's source, wherever it is started: JasperFx's default follows the content
            // root, which is the build output (Program.ContentRootFor). A build outside a checkout keeps the default.
            if (SourceProjectDirectory() is { } project)
                x.GeneratedCodeOutputPath = Path.Combine(project, "Internal", "Generated");
        });

        // One pool for Marten and Wolverine, owned (and disposed) by the container.
        builder.Services.AddSingleton(services =>
            Database.CreateDataSource(services.GetRequiredService<IConfiguration>().GetConnectionString(Database.ConnectionStringName)!));
        var marten = builder.Services.AddMarten(opts =>
            {
                opts.DatabaseSchemaName = schema;
                // Enums read as words in stored events ("sold", not 0): auditors read the JSON.
                opts.UseSystemTextJsonForSerialization(EnumStorage.AsString);

                opts.Events.StreamIdentity = StreamIdentity.AsGuid;
                opts.Events.AppendMode = EventAppendMode.QuickWithServerTimestamps;
                // An inline projection takes the document a session has already loaded from that session's identity map
                // instead of reading it again; only endpoints marked [ReusesLoadedDocuments] have one (Sessions.cs).
                opts.Events.UseIdentityMapForAggregates = true;
                // Who, why and which request: on every event (EnableAll() leaves the user name column out).
                opts.Events.MetadataConfig.CorrelationIdEnabled = true;
                opts.Events.MetadataConfig.CausationIdEnabled = true;
                opts.Events.MetadataConfig.HeadersEnabled = true;
                opts.Events.MetadataConfig.UserNameEnabled = true;

                // Never skip: a poison event stops the projection loudly instead of silently diverging.
                opts.Projections.Errors.SkipApplyErrors = false;
                opts.Projections.Errors.SkipSerializationErrors = false;
                opts.Projections.Errors.SkipUnknownEvents = false;
                opts.Projections.RebuildErrors.SkipApplyErrors = false;
                opts.Projections.RebuildErrors.SkipSerializationErrors = false;
                opts.Projections.RebuildErrors.SkipUnknownEvents = false;
                // A rebuild copies pure inserts (the serial claims) in with binary COPY instead of row by row: 2.6x faster for
                // that projection (BENCHMARKS.md, P4). A batch with any other write falls back to the row path whole.
                opts.Projections.RebuildWithBulkCopy = true;

                opts.Listeners.Add(new IdempotencyKeyListener());
                // Which transaction wrote each event, in its headers: time travel cuts between commits (CommitIds.cs).
                opts.Listeners.Add(new CommitIdListener());
                opts.Schema.For<IdempotencyRecord>().Index(x => x.ExpiresAt);
                opts.Schema.For<ConsumedIdempotencyKey>();
                opts.AddEmailDeliveries();

                opts.AddAccounts();
                opts.AddCatalogue();
                opts.AddProducts();
                opts.AddTiers();
                opts.AddMembership();
                opts.AddInvoicing();
                opts.AddMigration();
                opts.AddSupport();
                opts.AddAuditSchema();
                opts.AddReconciliation();
            })
            .UseNpgsqlDataSource()
            .BuildSessionsWith<LedgerSessionFactory>()
            .IntegrateWithWolverine(integration =>
            {
                integration.ForwardPointsEventsToInvitationPolicy();
                integration.ForwardMembershipStandingToEmails();
                integration.ForwardCreditNotesToEmails();
                integration.ForwardDeclinedChargesToEmails();
                integration.ForwardWithdrawalsToEmails();
                integration.ForwardTermsToRenewal();
            });

        marten.AddAsyncDaemon(development ? DaemonMode.Solo : DaemonMode.HotCold);
        if (development)
            marten.ApplyAllDatabaseChangesOnStartup();

        builder.Host.UseWolverine(opts =>
        {
            opts.ApplicationAssembly = typeof(Store).Assembly;
            // Each handler of a message runs and fails on its own (its own durable local queue), so an e-mail that cannot be sent
            // never takes an invoice's scheduling down with it (MembershipJoined has two handlers).
            opts.MultipleHandlerBehavior = MultipleHandlerBehavior.Separated;
            // And start-up fails should any message's handlers ever be combined again.
            opts.AssertNoCombinedHandlers();
            opts.Policies.AutoApplyTransactions();
            opts.Policies.UseDurableLocalQueues();
            opts.UseLedgerErrorPolicy();
            opts.UseLedgerDurability(builder.Configuration);
            opts.ScheduleReconciliation(builder.Configuration);
            opts.EnableRelayOfUserName = true;
            // Handlers (policies, scheduled and cascaded work) write as the system; the relayed user becomes caused_by.
            opts.Policies.Add<SystemActorPolicy>();
            // And the role the person acted in travels in every message their request set off (ActorRoles.cs).
            opts.MetadataRules.Add(new ActorRoleRelay());
            // E-mail handlers name their message in the delivery record: one that never reached it is reported (MailHealthCheck).
            opts.Policies.Add<MailEnvelopePolicy>();
            opts.BatchReviews();
            // Invoicing: invoices are numbered one at a time per node (fewer counter races; the claim row keeps it exact across nodes).
            opts.LocalQueueFor<IssueInvoice>().Sequential();
            if (development && !builder.Configuration.GetValue("Wolverine:Balanced", false))
                opts.Durability.Mode = DurabilityMode.Solo;
        });
    }
}
