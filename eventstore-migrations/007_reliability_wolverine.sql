DO LANGUAGE plpgsql $tran$
BEGIN

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


alter table cpsledger.wolverine_outgoing_envelopes add column timestamp timestamp with time zone NULL DEFAULT clock_timestamp();
alter table cpsledger.wolverine_incoming_envelopes add column timestamp timestamp with time zone NULL DEFAULT now();
CREATE TABLE IF NOT EXISTS cpsledger.wolverine_deduplication_hashed (
    deduplication_hash    bytea                       NOT NULL,
    deduplication_id      varchar(250)                NOT NULL,
    expires               timestamp with time zone    NOT NULL,
    envelope_id           uuid                        NULL,
CONSTRAINT pkey_wolverine_deduplication_hashed_deduplication_hash PRIMARY KEY (deduplication_hash)
);

CREATE INDEX idx_wolverine_deduplication_hashed_expires ON cpsledger.wolverine_deduplication_hashed USING btree (expires);
CREATE TABLE IF NOT EXISTS cpsledger.wolverine_recurring_messages (
    schedule_name           varchar(250)                NOT NULL,
    cron_expression         varchar(250)                NOT NULL,
    envelope_ids            varchar(2000)               NOT NULL,
    deduplication_id        varchar(250)                NULL,
    next_occurrence         timestamp with time zone    NULL,
    paused                  boolean                     NOT NULL,
    paused_at               timestamp with time zone    NULL,
    trigger_requested_at    timestamp with time zone    NULL,
    last_updated            timestamp with time zone    NOT NULL,
CONSTRAINT pkey_wolverine_recurring_messages_schedule_name PRIMARY KEY (schedule_name)
);

END;
$tran$;
