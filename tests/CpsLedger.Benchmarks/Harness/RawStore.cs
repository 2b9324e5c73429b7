using JasperFx;
using JasperFx.Events;
using Marten;
using Npgsql;
using Weasel.Core;

namespace CpsLedger.Benchmarks.Harness;

/// <summary>
/// The baselines' side: a bare Marten store (quick append, the service's serializer and event metadata, no projections, no
/// Wolverine, no HTTP) in the schema <see cref="Schema"/>, and a plain table for single-row INSERTs through Npgsql.
/// </summary>
public sealed class RawStore : IAsyncDisposable
{
    public const string Schema = "cpsbench_raw";

    /// <summary>The same bare store with the ledger's hash chain (table and triggers) on its event table: the chain's own cost.</summary>
    public const string ChainedSchema = "cpsbench_chained";

    private readonly NpgsqlDataSource _martenPool;

    private RawStore(DocumentStore store, NpgsqlDataSource martenPool, NpgsqlDataSource dataSource)
    {
        _martenPool = martenPool;
        Store = store;
        DataSource = dataSource;
    }

    public DocumentStore Store { get; }

    public NpgsqlDataSource DataSource { get; }

    public static async Task<RawStore> CreateAsync(string connectionString, string schema = Schema, bool chained = false)
    {
        // The service's pool (it keeps the server's plans), which Marten leaves to its owner to dispose.
        var martenPool = Api.Platform.Database.CreateDataSource(connectionString);
        var store = DocumentStore.For(opts =>
        {
            opts.Connection(martenPool);
            opts.DatabaseSchemaName = schema;
            opts.UseSystemTextJsonForSerialization(EnumStorage.AsString);
            opts.AutoCreateSchemaObjects = AutoCreate.All;
            opts.Events.StreamIdentity = StreamIdentity.AsGuid;
            opts.Events.AppendMode = EventAppendMode.QuickWithServerTimestamps;
            opts.Events.MetadataConfig.CorrelationIdEnabled = true;
            opts.Events.MetadataConfig.CausationIdEnabled = true;
            opts.Events.MetadataConfig.HeadersEnabled = true;
            opts.Events.MetadataConfig.UserNameEnabled = true;
            opts.Events.AddEventType<Api.Products.ProductRegistered>();
            opts.Events.AddEventType<Api.Products.ProductDetailsAmended>();
            opts.Events.AddEventType<Api.Products.PointsAllocated>();
            // The legacy import's events and view, for the bulk path's figures (no projection: the import writes the view itself).
            opts.Events.AddEventType<Api.Migration.LegacyAccountImported>();
            opts.Events.AddEventType<Api.Migration.LegacyProductImported>();
            opts.Schema.For<Api.Migration.LegacyAccountView>().UseNumericRevisions(true); // as the ledger stores projected documents
            if (chained)
                opts.Storage.Add(new Api.Audit.HashChainFeature(schema, opts.Advanced.Migrator));
        });
        await store.Storage.ApplyAllConfiguredChangesToDatabaseAsync();

        var dataSource = NpgsqlDataSource.Create(connectionString);
        await using var cmd = dataSource.CreateCommand($"""
            create table if not exists {schema}.plain_streams (
                id uuid primary key,
                type varchar(500),
                version bigint not null,
                timestamp timestamptz not null default now());
            create table if not exists {schema}.plain_keyed_events (
                seq_id bigserial primary key,
                stream_id uuid not null references {schema}.plain_streams (id),
                version bigint not null,
                type varchar(500) not null,
                data jsonb not null,
                correlation_id varchar(200),
                user_name varchar(200),
                timestamp timestamptz not null default now(),
                unique (stream_id, version));
            truncate {schema}.plain_keyed_events, {schema}.plain_streams;
            create table if not exists {schema}.plain_events (
                seq_id bigserial primary key,
                stream_id uuid not null,
                type varchar(500) not null,
                data jsonb not null,
                correlation_id varchar(200),
                user_name varchar(200),
                timestamp timestamptz not null default now());
            truncate {schema}.plain_events;
            """);
        await cmd.ExecuteNonQueryAsync();
        return new RawStore(store, martenPool, dataSource);
    }

    public async ValueTask DisposeAsync()
    {
        await DataSource.DisposeAsync();
        await Store.DisposeAsync();
        await _martenPool.DisposeAsync();
    }
}
