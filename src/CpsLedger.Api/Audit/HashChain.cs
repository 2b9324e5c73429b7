using System.Data.Common;
using Weasel.Core;
using Weasel.Postgresql;

namespace CpsLedger.Api.Audit;

/// <summary>
/// Tamper evidence: a hash chain over each account's events, kept by PostgreSQL triggers on the event table, so that it is
/// written in the appending transaction whatever code appended (HTTP, handlers, imports, tools). Each link is
/// sha256(previous link || canonical text of the event: id, stream, sequence, type, data, metadata, timestamp); events that
/// belong to no account (catalogue, tier table) are chained per stream. Creating it links the events already stored.
/// Two triggers, and every inserted event is linked by exactly one of them whatever the setting says:
/// - per row (the default): Marten's append function inserts one event per INSERT statement, so a statement-level trigger
///   would fire just as often and costs more per firing; an advisory lock per chain makes concurrent appends to one account
///   wait rather than fail.
/// - per statement, when the appending transaction says so (<see cref="PerStatementSql"/>, set by bulk appenders before a
///   COPY): one set-based insert over the statement's transition table, the links folded in sequence order per chain by an
///   aggregate; a statement touching many chains takes one table lock instead of a lock per chain (a COPY of more than a few
///   thousand chains in one transaction ran out of lock slots with the per-row trigger).
/// Both compute the same links byte for byte (HashChainTests compare them with each other and with v3's function).
/// </summary>
public sealed class HashChainSchema(string schema) : ISchemaObject
{
    public const string TableName = "account_chain";

    // Changing the SQL below changes this marker, so that db-patch and the dev schema update the function and trigger.
    private const string Version = "v4";

    /// <summary>The setting a bulk appender sets (SET LOCAL) so that its multi-row statements are linked per statement.</summary>
    public const string ModeSetting = "cpsledger.hash_chain";

    /// <summary>Run in the appending transaction before a multi-row INSERT or COPY into the event table.</summary>
    public const string PerStatementSql = $"set local {ModeSetting} = 'per-statement'";

    /// <summary>Back to the per-row trigger for the rest of the transaction (single-row statements are cheaper that way).</summary>
    public const string PerRowSql = $"set local {ModeSetting} = 'per-row'";

    // Above this many chains in one statement, one table lock (it excludes every other chain writer until commit) instead of
    // an advisory lock per chain: lock slots are few (max_locks_per_transaction, 64 per connection by default).
    private const int MaxChainLocksPerStatement = 64;

    public DbObjectName Identifier { get; } = new PostgresqlObjectName(schema, TableName, SchemaUtils.IdentifierUsage.General);

    private string Function => $"{schema}.{TableName}_link";

    public static string CanonicalEventSql(string alias) =>
        $"concat_ws('|', {alias}.id::text, {alias}.stream_id::text, {alias}.seq_id::text, {alias}.type, {alias}.data::text, " +
        $"coalesce({alias}.correlation_id, ''), coalesce({alias}.causation_id, ''), coalesce({alias}.user_name, ''), " +
        $"coalesce({alias}.headers::text, ''), to_char({alias}.timestamp at time zone 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US'))";

    /// <summary>
    /// A link: the previous link (<paramref name="previous"/>, SQL; null for a chain's first) hashed with the event's canonical text.
    /// The one computation the triggers append with and every check recomputes with (the statement trigger folds the same steps).
    /// </summary>
    public static string LinkSql(string previous, string alias) => LinkOverSql(previous, $"convert_to({CanonicalEventSql(alias)}, 'UTF8')");

    /// <summary>
    /// <see cref="LinkSql"/> over an event's canonical text already converted to bytes (<paramref name="canonical"/>, SQL): for a
    /// check that hashes one event's text over two previous links, building the text once.
    /// </summary>
    public static string LinkOverSql(string previous, string canonical) => $"sha256(coalesce({previous}, ''::bytea) || {canonical})";

    /// <summary>
    /// The chain an event belongs to: its AccountId when that is 36 characters of hex digits and hyphens, else its stream. The
    /// same test as v3's regular expression '^[0-9a-fA-F-]{36}$', without the regular expression (a third of the trigger's time).
    /// </summary>
    public static string ChainKeySql(string alias) =>
        $"coalesce(case when length({alias}.data ->> 'AccountId') = 36 and translate({alias}.data ->> 'AccountId', " +
        $"'0123456789abcdefABCDEF-', '') = '' then ({alias}.data ->> 'AccountId')::uuid end, {alias}.stream_id)";

    /// <summary>v3's chain key, kept for the test that proves the new one equal.</summary>
    public static string ChainKeySqlV3(string alias) =>
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
                        {LinkSql("previous", "ev")});
            END;
            $chain$;
            -- The row trigger does what {TableName}_add does, inline: no second function call per event, and the previous link is
            -- read by the insert itself. The insert runs after the lock, so its snapshot sees the link a concurrent appender
            -- committed while this one waited.
            CREATE OR REPLACE FUNCTION {Function}() RETURNS trigger LANGUAGE plpgsql AS $chain$
            -- cpsledger hash chain {Version}
            DECLARE
                key uuid := {ChainKeySql("NEW")};
            BEGIN
                PERFORM pg_advisory_xact_lock(hashtextextended('cpsledger-chain:' || key::text, 0));
                INSERT INTO {schema}.{TableName} (chain_id, position, seq_id, event_id, hash)
                SELECT key, coalesce(previous.position, 0) + 1, NEW.seq_id, NEW.id,
                       {LinkSql("previous.hash", "NEW")}
                FROM (SELECT 1) AS one
                LEFT JOIN LATERAL (SELECT c.hash, c.position FROM {schema}.{TableName} c
                                   WHERE c.chain_id = key ORDER BY c.position DESC LIMIT 1) AS previous ON true;
                RETURN NULL;
            END;
            $chain$;
            -- One step of a chain: the previous link (or the chain's last stored link, or nothing) hashed with the event's text.
            CREATE OR REPLACE FUNCTION {schema}.{TableName}_step(state bytea, stored bytea, payload bytea) RETURNS bytea
            LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $step$
            BEGIN
                RETURN sha256(coalesce(state, stored, ''::bytea) || payload);
            END;
            $step$;
            CREATE OR REPLACE AGGREGATE {schema}.{TableName}_fold(bytea, bytea) (SFUNC = {schema}.{TableName}_step, STYPE = bytea);
            -- The statement trigger: every event of the statement linked in one insert, each chain folded in sequence order (a
            -- window over the transition table) from its last stored link.
            CREATE OR REPLACE FUNCTION {Function}_statement() RETURNS trigger LANGUAGE plpgsql AS $chain$
            -- cpsledger hash chain {Version}
            DECLARE
                locks bigint[];
            BEGIN
                SELECT array_agg(DISTINCT hashtextextended('cpsledger-chain:' || ({ChainKeySql("a")})::text, 0)) INTO locks FROM appended a;
                IF locks IS NULL THEN
                    RETURN NULL;
                END IF;
                IF cardinality(locks) <= {MaxChainLocksPerStatement} THEN
                    PERFORM pg_advisory_xact_lock(l) FROM unnest(locks) AS l ORDER BY l;
                ELSE
                    LOCK TABLE {schema}.{TableName} IN SHARE ROW EXCLUSIVE MODE;
                END IF;
                INSERT INTO {schema}.{TableName} (chain_id, position, seq_id, event_id, hash)
                SELECT n.key, coalesce(previous.position, 0) + row_number() OVER chain, n.seq_id, n.id,
                       {schema}.{TableName}_fold(previous.hash, n.payload) OVER chain
                FROM (SELECT {ChainKeySql("a")} AS key, a.seq_id, a.id, convert_to({CanonicalEventSql("a")}, 'UTF8') AS payload
                      FROM appended a) AS n
                LEFT JOIN LATERAL (SELECT c.hash, c.position FROM {schema}.{TableName} c
                                   WHERE c.chain_id = n.key ORDER BY c.position DESC LIMIT 1) AS previous ON true
                WINDOW chain AS (PARTITION BY n.key ORDER BY n.seq_id);
                RETURN NULL;
            END;
            $chain$ SET work_mem = '64MB';
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
            CREATE TRIGGER {TableName}_on_append AFTER INSERT ON {schema}.mt_events FOR EACH ROW
                WHEN (current_setting('{ModeSetting}', true) IS DISTINCT FROM 'per-statement') EXECUTE FUNCTION {Function}();
            DROP TRIGGER IF EXISTS {TableName}_on_append_statement ON {schema}.mt_events;
            CREATE TRIGGER {TableName}_on_append_statement AFTER INSERT ON {schema}.mt_events REFERENCING NEW TABLE AS appended
                FOR EACH STATEMENT WHEN (current_setting('{ModeSetting}', true) = 'per-statement') EXECUTE FUNCTION {Function}_statement();
            """);
    }

    public void WriteDropStatement(Migrator migrator, TextWriter writer)
    {
        writer.WriteLine($"DROP TRIGGER IF EXISTS {TableName}_on_append ON {schema}.mt_events;");
        writer.WriteLine($"DROP TRIGGER IF EXISTS {TableName}_on_append_statement ON {schema}.mt_events;");
        writer.WriteLine($"DROP FUNCTION IF EXISTS {Function}();");
        writer.WriteLine($"DROP FUNCTION IF EXISTS {Function}_statement();");
        writer.WriteLine($"DROP AGGREGATE IF EXISTS {schema}.{TableName}_fold(bytea, bytea);");
        writer.WriteLine($"DROP FUNCTION IF EXISTS {schema}.{TableName}_step(bytea, bytea, bytea);");
        writer.WriteLine($"DROP FUNCTION IF EXISTS {schema}.{TableName}_add({schema}.mt_events);");
        writer.WriteLine($"DROP TABLE IF EXISTS {schema}.{TableName};");
    }

    public void ConfigureQueryCommand(Weasel.Core.DbCommandBuilder builder) =>
        builder.Append($"""
            select
              (select count(*) from information_schema.tables where table_schema = '{schema}' and table_name = '{TableName}'),
              (select count(*) from pg_trigger t join pg_class c on c.oid = t.tgrelid join pg_namespace n on n.oid = c.relnamespace
                 where n.nspname = '{schema}' and c.relname = 'mt_events' and t.tgname in ('{TableName}_on_append', '{TableName}_on_append_statement')),
              (select count(*) from pg_proc p join pg_namespace n on n.oid = p.pronamespace
                 where n.nspname = '{schema}' and p.proname = '{TableName}_link' and p.prosrc like '%cpsledger hash chain {Version}%');
            """);

    public async Task<ISchemaObjectDelta> CreateDeltaAsync(DbDataReader reader, CancellationToken ct)
    {
        await reader.ReadAsync(ct);
        var table = reader.GetInt64(0) > 0;
        var triggers = reader.GetInt64(1);
        var trigger = triggers > 0;
        var function = reader.GetInt64(2) > 0;
        var difference = table && triggers == 2 && function ? SchemaPatchDifference.None
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
