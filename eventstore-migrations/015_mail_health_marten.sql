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


alter table cpsledger.email_deliveries add column first_tried_at timestamp with time zone NULL;
alter table cpsledger.email_deliveries add column failed_for_good boolean NOT NULL DEFAULT false;
CREATE INDEX idx_email_deliveries_unsent ON cpsledger.email_deliveries USING btree (first_tried_at) WHERE (sent_at is null);
