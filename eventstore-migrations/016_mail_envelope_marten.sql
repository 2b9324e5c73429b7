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


alter table cpsledger.email_deliveries add column envelope_id uuid NULL;
CREATE INDEX idx_email_deliveries_envelope ON cpsledger.email_deliveries USING btree (envelope_id);
