using System.Data.Common;
using Weasel.Core;
using Weasel.Postgresql;

namespace CpsLedger.Api.Audit;

/// <summary>
/// Tamper evidence: a hash chain over each account's events, kept by a PostgreSQL trigger on the event table, so that it is
/// written in the appending transaction whatever code appended (HTTP, handlers, imports, tools). Each link is
/// sha256(previous link || canonical text of the event: id, stream, sequence, type, data, metadata, timestamp); events that
/// belong to no account (catalogue, tier table) are chained per stream. Creating it links the events already stored. An advisory lock per chain serialises concurrent
/// appends to one account only for the moment of the insert, so they wait rather than fail. The trigger is per row: Marten's append
/// function inserts one event per INSERT statement, so a statement-level trigger would fire just as often (and measured slower).
/// </summary>
public sealed class HashChainSchema(string schema) : ISchemaObject
{
    public const string TableName = "account_chain";

    // Changing the SQL below changes this marker, so that db-patch and the dev schema update the function and trigger.
    private const string Version = "v3";

    public DbObjectName Identifier { get; } = new PostgresqlObjectName(schema, TableName, SchemaUtils.IdentifierUsage.General);

    private string Function => $"{schema}.{TableName}_link";

    public static string CanonicalEventSql(string alias) =>
        $"concat_ws('|', {alias}.id::text, {alias}.stream_id::text, {alias}.seq_id::text, {alias}.type, {alias}.data::text, " +
        $"coalesce({alias}.correlation_id, ''), coalesce({alias}.causation_id, ''), coalesce({alias}.user_name, ''), " +
        $"coalesce({alias}.headers::text, ''), to_char({alias}.timestamp at time zone 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US'))";

    public static string ChainKeySql(string alias) =>
        $"coalesce(case when {alias}.data ->> 'AccountId' ~ '^[0-9a-fA-F-]{{36}}$' then ({alias}.data ->> 'AccountId')::uuid end, {alias}.stream_id)";

    public void WriteCreateStatement(Migrator migrator, TextWriter writer)
    {
        writer.WriteLine($"""
            CREATE TABLE IF NOT EXISTS {schema}.{TableName} (
                chain_id   uuid        NOT NULL,
                position   bigint      NOT NULL,
                seq_id     bigint      NOT NULL,
                event_id   uuid        NOT NULL,
                hash       bytea       NOT NULL,
                CONSTRAINT pk_{TableName} PRIMARY KEY (chain_id, position)
            );
            CREATE OR REPLACE FUNCTION {schema}.{TableName}_add(ev {schema}.mt_events) RETURNS void LANGUAGE plpgsql AS $chain$
            -- cpsledger hash chain {Version}
            DECLARE
                key      uuid := {ChainKeySql("ev")};
                previous bytea;
                last     bigint;
            BEGIN
                PERFORM pg_advisory_xact_lock(hashtextextended('cpsledger-chain:' || key::text, 0));
                SELECT c.hash, c.position INTO previous, last FROM {schema}.{TableName} c
                    WHERE c.chain_id = key ORDER BY c.position DESC LIMIT 1;
                INSERT INTO {schema}.{TableName} (chain_id, position, seq_id, event_id, hash)
                VALUES (key, coalesce(last, 0) + 1, ev.seq_id, ev.id,
                        sha256(coalesce(previous, ''::bytea) || convert_to({CanonicalEventSql("ev")}, 'UTF8')));
            END;
            $chain$;
            -- The trigger does what {TableName}_add does, inline: no second function call per event, and the previous link is read
            -- by the insert itself (two statements per event instead of three). Same links, byte for byte. The insert runs after
            -- the lock, so its snapshot sees the link a concurrent appender committed while this one waited.
            CREATE OR REPLACE FUNCTION {Function}() RETURNS trigger LANGUAGE plpgsql AS $chain$
            -- cpsledger hash chain {Version}
            DECLARE
                key uuid := {ChainKeySql("NEW")};
            BEGIN
                PERFORM pg_advisory_xact_lock(hashtextextended('cpsledger-chain:' || key::text, 0));
                INSERT INTO {schema}.{TableName} (chain_id, position, seq_id, event_id, hash)
                SELECT key, coalesce(previous.position, 0) + 1, NEW.seq_id, NEW.id,
                       sha256(coalesce(previous.hash, ''::bytea) || convert_to({CanonicalEventSql("NEW")}, 'UTF8'))
                FROM (SELECT 1) AS one
                LEFT JOIN LATERAL (SELECT c.hash, c.position FROM {schema}.{TableName} c
                                   WHERE c.chain_id = key ORDER BY c.position DESC LIMIT 1) AS previous ON true;
                RETURN NULL;
            END;
            $chain$;
            -- Events stored before the chain existed are linked once, in their commit order.
            DO $backfill$
            DECLARE ev {schema}.mt_events;
            BEGIN
                FOR ev IN SELECT e.* FROM {schema}.mt_events e
                          WHERE NOT EXISTS (SELECT 1 FROM {schema}.{TableName} c WHERE c.event_id = e.id) ORDER BY e.seq_id
                LOOP
                    PERFORM {schema}.{TableName}_add(ev);
                END LOOP;
            END;
            $backfill$;
            DROP TRIGGER IF EXISTS {TableName}_on_append ON {schema}.mt_events;
            CREATE TRIGGER {TableName}_on_append AFTER INSERT ON {schema}.mt_events FOR EACH ROW EXECUTE FUNCTION {Function}();
            """);
    }

    public void WriteDropStatement(Migrator migrator, TextWriter writer)
    {
        writer.WriteLine($"DROP TRIGGER IF EXISTS {TableName}_on_append ON {schema}.mt_events;");
        writer.WriteLine($"DROP FUNCTION IF EXISTS {Function}();");
        writer.WriteLine($"DROP FUNCTION IF EXISTS {schema}.{TableName}_add({schema}.mt_events);");
        writer.WriteLine($"DROP TABLE IF EXISTS {schema}.{TableName};");
    }

    public void ConfigureQueryCommand(Weasel.Core.DbCommandBuilder builder) =>
        builder.Append($"""
            select
              (select count(*) from information_schema.tables where table_schema = '{schema}' and table_name = '{TableName}'),
              (select count(*) from pg_trigger t join pg_class c on c.oid = t.tgrelid join pg_namespace n on n.oid = c.relnamespace
                 where n.nspname = '{schema}' and c.relname = 'mt_events' and t.tgname = '{TableName}_on_append'),
              (select count(*) from pg_proc p join pg_namespace n on n.oid = p.pronamespace
                 where n.nspname = '{schema}' and p.proname = '{TableName}_link' and p.prosrc like '%cpsledger hash chain {Version}%');
            """);

    public async Task<ISchemaObjectDelta> CreateDeltaAsync(DbDataReader reader, CancellationToken ct)
    {
        await reader.ReadAsync(ct);
        var table = reader.GetInt64(0) > 0;
        var trigger = reader.GetInt64(1) > 0;
        var function = reader.GetInt64(2) > 0;
        var difference = table && trigger && function ? SchemaPatchDifference.None
            : !table && !trigger ? SchemaPatchDifference.Create
            : SchemaPatchDifference.Update;
        return new HashChainDelta(this, difference);
    }

    public IEnumerable<DbObjectName> AllNames()
    {
        yield return Identifier;
    }
}

/// <summary>
/// Updating the chain objects never drops the chain table (Weasel's generic delta would drop and re-create): the create
/// statement is idempotent (create if missing, replace functions, re-create the trigger, link what is unlinked).
/// </summary>
public sealed class HashChainDelta(HashChainSchema schema, SchemaPatchDifference difference) : ISchemaObjectDelta
{
    public ISchemaObject SchemaObject => schema;
    public SchemaPatchDifference Difference => difference;

    public void WriteUpdate(Migrator rules, TextWriter writer) => schema.WriteCreateStatement(rules, writer);

    // A rollback of an update keeps the chain: the links are evidence, not a cache.
    public void WriteRollback(Migrator rules, TextWriter writer)
    {
    }

    public void WriteRestorationOfPreviousState(Migrator rules, TextWriter writer)
    {
    }
}
