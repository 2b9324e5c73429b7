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


CREATE TABLE IF NOT EXISTS cpsledger.email_deliveries (
    message_id    varchar                     NOT NULL,
    recipient     varchar                     NOT NULL,
    subject       varchar                     NOT NULL,
    claimed_at    timestamp with time zone    NOT NULL,
    claimed_by    varchar                     NOT NULL,
    attempts      integer                     NOT NULL,
    sent_at       timestamp with time zone    NULL,
CONSTRAINT pkey_email_deliveries_message_id PRIMARY KEY (message_id)
);
CREATE TABLE IF NOT EXISTS cpsledger.mt_doc_consumedidempotencykey (
    id                  uuid                        NOT NULL,
    data                jsonb                       NOT NULL,
    mt_last_modified    timestamp with time zone    NULL DEFAULT (transaction_timestamp()),
    mt_version          uuid                        NOT NULL DEFAULT (md5(random()::text || clock_timestamp()::text)::uuid),
    mt_dotnet_type      varchar                     NULL,
CONSTRAINT pkey_mt_doc_consumedidempotencykey_id PRIMARY KEY (id)
);
CREATE TABLE IF NOT EXISTS cpsledger.mt_doc_reconciliationreport (
    id                  uuid                        NOT NULL,
    data                jsonb                       NOT NULL,
    mt_last_modified    timestamp with time zone    NULL DEFAULT (transaction_timestamp()),
    mt_dotnet_type      varchar                     NULL,
    mt_version          bigint                      NOT NULL DEFAULT 0,
CONSTRAINT pkey_mt_doc_reconciliationreport_id PRIMARY KEY (id)
);
