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


CREATE INDEX mt_doc_invoice_idx_still_owed ON cpsledger.mt_doc_invoice USING btree ((due_on), (invoice_number)) INCLUDE (id, currency, total, outstanding, overpaid, refund_due, total_received, refunded, credit_note_total, status) WHERE ((((status)::text = 'Open'::text) OR ((status)::text = 'Overdue'::text)) AND (outstanding > (0)::numeric));
CREATE INDEX mt_doc_invoice_idx_owed_back ON cpsledger.mt_doc_invoice USING btree ((due_on), (invoice_number)) INCLUDE (id, currency, total, outstanding, overpaid, refund_due, total_received, refunded, credit_note_total, status) WHERE ((overpaid > (0)::numeric) OR (refund_due > (0)::numeric));
