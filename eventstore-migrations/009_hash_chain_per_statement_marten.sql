DO $$
BEGIN      IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_namespace WHERE nspname = 'cpsledger') THEN
        BEGIN
          EXECUTE 'CREATE SCHEMA IF NOT EXISTS cpsledger';
        EXCEPTION
          WHEN duplicate_schema THEN NULL;
          WHEN unique_violation THEN NULL;
        END;
      END IF;

END
$$;


CREATE TABLE IF NOT EXISTS cpsledger.account_chain (
    chain_id   uuid        NOT NULL,
    position   bigint      NOT NULL,
    seq_id     bigint      NOT NULL,
    event_id   uuid        NOT NULL,
    hash       bytea       NOT NULL,
    CONSTRAINT pk_account_chain PRIMARY KEY (chain_id, position)
);
CREATE OR REPLACE FUNCTION cpsledger.account_chain_add(ev cpsledger.mt_events) RETURNS void LANGUAGE plpgsql AS $chain$
-- cpsledger hash chain v4
DECLARE
    key      uuid := coalesce(case when length(ev.data ->> 'AccountId') = 36 and translate(ev.data ->> 'AccountId', '0123456789abcdefABCDEF-', '') = '' then (ev.data ->> 'AccountId')::uuid end, ev.stream_id);
    previous bytea;
    last     bigint;
BEGIN
    PERFORM pg_advisory_xact_lock(hashtextextended('cpsledger-chain:' || key::text, 0));
    SELECT c.hash, c.position INTO previous, last FROM cpsledger.account_chain c
        WHERE c.chain_id = key ORDER BY c.position DESC LIMIT 1;
    INSERT INTO cpsledger.account_chain (chain_id, position, seq_id, event_id, hash)
    VALUES (key, coalesce(last, 0) + 1, ev.seq_id, ev.id,
            sha256(coalesce(previous, ''::bytea) || convert_to(concat_ws('|', ev.id::text, ev.stream_id::text, ev.seq_id::text, ev.type, ev.data::text, coalesce(ev.correlation_id, ''), coalesce(ev.causation_id, ''), coalesce(ev.user_name, ''), coalesce(ev.headers::text, ''), to_char(ev.timestamp at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US')), 'UTF8')));
END;
$chain$;
-- The row trigger does what account_chain_add does, inline: no second function call per event, and the previous link is
-- read by the insert itself. The insert runs after the lock, so its snapshot sees the link a concurrent appender
-- committed while this one waited.
CREATE OR REPLACE FUNCTION cpsledger.account_chain_link() RETURNS trigger LANGUAGE plpgsql AS $chain$
-- cpsledger hash chain v4
DECLARE
    key uuid := coalesce(case when length(NEW.data ->> 'AccountId') = 36 and translate(NEW.data ->> 'AccountId', '0123456789abcdefABCDEF-', '') = '' then (NEW.data ->> 'AccountId')::uuid end, NEW.stream_id);
BEGIN
    PERFORM pg_advisory_xact_lock(hashtextextended('cpsledger-chain:' || key::text, 0));
    INSERT INTO cpsledger.account_chain (chain_id, position, seq_id, event_id, hash)
    SELECT key, coalesce(previous.position, 0) + 1, NEW.seq_id, NEW.id,
           sha256(coalesce(previous.hash, ''::bytea) || convert_to(concat_ws('|', NEW.id::text, NEW.stream_id::text, NEW.seq_id::text, NEW.type, NEW.data::text, coalesce(NEW.correlation_id, ''), coalesce(NEW.causation_id, ''), coalesce(NEW.user_name, ''), coalesce(NEW.headers::text, ''), to_char(NEW.timestamp at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US')), 'UTF8'))
    FROM (SELECT 1) AS one
    LEFT JOIN LATERAL (SELECT c.hash, c.position FROM cpsledger.account_chain c
                       WHERE c.chain_id = key ORDER BY c.position DESC LIMIT 1) AS previous ON true;
    RETURN NULL;
END;
$chain$;
-- One step of a chain: the previous link (or the chain's last stored link, or nothing) hashed with the event's text.
CREATE OR REPLACE FUNCTION cpsledger.account_chain_step(state bytea, stored bytea, payload bytea) RETURNS bytea
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $step$
BEGIN
    RETURN sha256(coalesce(state, stored, ''::bytea) || payload);
END;
$step$;
CREATE OR REPLACE AGGREGATE cpsledger.account_chain_fold(bytea, bytea) (SFUNC = cpsledger.account_chain_step, STYPE = bytea);
-- The statement trigger: every event of the statement linked in one insert, each chain folded in sequence order (a
-- window over the transition table) from its last stored link.
CREATE OR REPLACE FUNCTION cpsledger.account_chain_link_statement() RETURNS trigger LANGUAGE plpgsql AS $chain$
-- cpsledger hash chain v4
DECLARE
    locks bigint[];
BEGIN
    SELECT array_agg(DISTINCT hashtextextended('cpsledger-chain:' || (coalesce(case when length(a.data ->> 'AccountId') = 36 and translate(a.data ->> 'AccountId', '0123456789abcdefABCDEF-', '') = '' then (a.data ->> 'AccountId')::uuid end, a.stream_id))::text, 0)) INTO locks FROM appended a;
    IF locks IS NULL THEN
        RETURN NULL;
    END IF;
    IF cardinality(locks) <= 64 THEN
        PERFORM pg_advisory_xact_lock(l) FROM unnest(locks) AS l ORDER BY l;
    ELSE
        LOCK TABLE cpsledger.account_chain IN SHARE ROW EXCLUSIVE MODE;
    END IF;
    INSERT INTO cpsledger.account_chain (chain_id, position, seq_id, event_id, hash)
    SELECT n.key, coalesce(previous.position, 0) + row_number() OVER chain, n.seq_id, n.id,
           cpsledger.account_chain_fold(previous.hash, n.payload) OVER chain
    FROM (SELECT coalesce(case when length(a.data ->> 'AccountId') = 36 and translate(a.data ->> 'AccountId', '0123456789abcdefABCDEF-', '') = '' then (a.data ->> 'AccountId')::uuid end, a.stream_id) AS key, a.seq_id, a.id, convert_to(concat_ws('|', a.id::text, a.stream_id::text, a.seq_id::text, a.type, a.data::text, coalesce(a.correlation_id, ''), coalesce(a.causation_id, ''), coalesce(a.user_name, ''), coalesce(a.headers::text, ''), to_char(a.timestamp at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US')), 'UTF8') AS payload
          FROM appended a) AS n
    LEFT JOIN LATERAL (SELECT c.hash, c.position FROM cpsledger.account_chain c
                       WHERE c.chain_id = n.key ORDER BY c.position DESC LIMIT 1) AS previous ON true
    WINDOW chain AS (PARTITION BY n.key ORDER BY n.seq_id);
    RETURN NULL;
END;
$chain$ SET work_mem = '64MB';
-- Events stored before the chain existed are linked once, in their commit order.
DO $backfill$
DECLARE ev cpsledger.mt_events;
BEGIN
    FOR ev IN SELECT e.* FROM cpsledger.mt_events e
              WHERE NOT EXISTS (SELECT 1 FROM cpsledger.account_chain c WHERE c.event_id = e.id) ORDER BY e.seq_id
    LOOP
        PERFORM cpsledger.account_chain_add(ev);
    END LOOP;
END;
$backfill$;
DROP TRIGGER IF EXISTS account_chain_on_append ON cpsledger.mt_events;
CREATE TRIGGER account_chain_on_append AFTER INSERT ON cpsledger.mt_events FOR EACH ROW
    WHEN (current_setting('cpsledger.hash_chain', true) IS DISTINCT FROM 'per-statement') EXECUTE FUNCTION cpsledger.account_chain_link();
DROP TRIGGER IF EXISTS account_chain_on_append_statement ON cpsledger.mt_events;
CREATE TRIGGER account_chain_on_append_statement AFTER INSERT ON cpsledger.mt_events REFERENCING NEW TABLE AS appended
    FOR EACH STATEMENT WHEN (current_setting('cpsledger.hash_chain', true) = 'per-statement') EXECUTE FUNCTION cpsledger.account_chain_link_statement();
