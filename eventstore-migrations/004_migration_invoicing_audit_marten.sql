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


CREATE TABLE IF NOT EXISTS cpsledger.mt_doc_accountadjustments (
    id                  uuid                        NOT NULL,
    data                jsonb                       NOT NULL,
    mt_last_modified    timestamp with time zone    NULL DEFAULT (transaction_timestamp()),
    mt_dotnet_type      varchar                     NULL,
    mt_version          bigint                      NOT NULL DEFAULT 0,
CONSTRAINT pkey_mt_doc_accountadjustments_id PRIMARY KEY (id)
);
CREATE TABLE IF NOT EXISTS cpsledger.mt_doc_invoice (
    id                  uuid                        NOT NULL,
    data                jsonb                       NOT NULL,
    mt_last_modified    timestamp with time zone    NULL DEFAULT (transaction_timestamp()),
    mt_dotnet_type      varchar                     NULL,
    mt_version          bigint                      NOT NULL DEFAULT 0,
    account_id          uuid                        NULL,
    invoice_number      varchar                     NULL,
CONSTRAINT pkey_mt_doc_invoice_id PRIMARY KEY (id)
);

CREATE INDEX mt_doc_invoice_idx_account_id ON cpsledger.mt_doc_invoice USING btree (account_id);

CREATE INDEX mt_doc_invoice_idx_invoice_number ON cpsledger.mt_doc_invoice USING btree (invoice_number);
CREATE TABLE IF NOT EXISTS cpsledger.mt_doc_invoicenumberclaim (
    id                  varchar                     NOT NULL,
    data                jsonb                       NOT NULL,
    mt_last_modified    timestamp with time zone    NULL DEFAULT (transaction_timestamp()),
    mt_version          uuid                        NOT NULL DEFAULT (md5(random()::text || clock_timestamp()::text)::uuid),
    mt_dotnet_type      varchar                     NULL,
    account_id          uuid                        NULL,
CONSTRAINT pkey_mt_doc_invoicenumberclaim_id PRIMARY KEY (id)
);

CREATE INDEX mt_doc_invoicenumberclaim_idx_account_id ON cpsledger.mt_doc_invoicenumberclaim USING btree (account_id);
CREATE TABLE IF NOT EXISTS cpsledger.mt_doc_invoicenumbercounter (
    id                  varchar                     NOT NULL,
    data                jsonb                       NOT NULL,
    mt_last_modified    timestamp with time zone    NULL DEFAULT (transaction_timestamp()),
    mt_version          uuid                        NOT NULL DEFAULT (md5(random()::text || clock_timestamp()::text)::uuid),
    mt_dotnet_type      varchar                     NULL,
CONSTRAINT pkey_mt_doc_invoicenumbercounter_id PRIMARY KEY (id)
);
CREATE TABLE IF NOT EXISTS cpsledger.mt_doc_legacyaccountview (
    id                  uuid                        NOT NULL,
    data                jsonb                       NOT NULL,
    mt_last_modified    timestamp with time zone    NULL DEFAULT (transaction_timestamp()),
    mt_dotnet_type      varchar                     NULL,
    mt_version          bigint                      NOT NULL DEFAULT 0,
CONSTRAINT pkey_mt_doc_legacyaccountview_id PRIMARY KEY (id)
);
CREATE TABLE IF NOT EXISTS cpsledger.mt_doc_paymentcard (
    id                  uuid                        NOT NULL,
    data                jsonb                       NOT NULL,
    mt_last_modified    timestamp with time zone    NULL DEFAULT (transaction_timestamp()),
    mt_dotnet_type      varchar                     NULL,
    mt_version          bigint                      NOT NULL DEFAULT 0,
CONSTRAINT pkey_mt_doc_paymentcard_id PRIMARY KEY (id)
);
CREATE TABLE IF NOT EXISTS cpsledger.mt_doc_supportoverride (
    id                  uuid                        NOT NULL,
    data                jsonb                       NOT NULL,
    mt_last_modified    timestamp with time zone    NULL DEFAULT (transaction_timestamp()),
    mt_version          uuid                        NOT NULL DEFAULT (md5(random()::text || clock_timestamp()::text)::uuid),
    mt_dotnet_type      varchar                     NULL,
    account_id          uuid                        NULL,
    at                  timestamp with time zone    NULL,
CONSTRAINT pkey_mt_doc_supportoverride_id PRIMARY KEY (id)
);

CREATE INDEX mt_doc_supportoverride_idx_account_id ON cpsledger.mt_doc_supportoverride USING btree (account_id);

CREATE INDEX mt_doc_supportoverride_idx_at ON cpsledger.mt_doc_supportoverride USING btree (at);
CREATE TABLE IF NOT EXISTS cpsledger.account_chain (
    chain_id   uuid        NOT NULL,
    position   bigint      NOT NULL,
    seq_id     bigint      NOT NULL,
    event_id   uuid        NOT NULL,
    hash       bytea       NOT NULL,
    CONSTRAINT pk_account_chain PRIMARY KEY (chain_id, position)
);
CREATE OR REPLACE FUNCTION cpsledger.account_chain_add(ev cpsledger.mt_events) RETURNS void LANGUAGE plpgsql AS $chain$
-- cpsledger hash chain v2
DECLARE
    key      uuid := coalesce(case when ev.data ->> 'AccountId' ~ '^[0-9a-fA-F-]{36}$' then (ev.data ->> 'AccountId')::uuid end, ev.stream_id);
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
CREATE OR REPLACE FUNCTION cpsledger.account_chain_link() RETURNS trigger LANGUAGE plpgsql AS $chain$
-- cpsledger hash chain v2
BEGIN
    PERFORM cpsledger.account_chain_add(NEW);
    RETURN NEW;
END;
$chain$;
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
CREATE TRIGGER account_chain_on_append AFTER INSERT ON cpsledger.mt_events FOR EACH ROW EXECUTE FUNCTION cpsledger.account_chain_link();
