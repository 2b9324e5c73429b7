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


drop index if exists cpsledger.mt_doc_invoice_idx_status_due_on;
alter table cpsledger.mt_doc_invoice add column total_received decimal NULL;update cpsledger.mt_doc_invoice set "total_received" = CAST(data ->> 'TotalReceived' as decimal);
alter table cpsledger.mt_doc_invoice add column refunded decimal NULL;update cpsledger.mt_doc_invoice set "refunded" = CAST(data ->> 'Refunded' as decimal);
alter table cpsledger.mt_doc_invoice add column credit_note_total decimal NULL;update cpsledger.mt_doc_invoice set "credit_note_total" = CAST(data -> 'CreditNote' ->> 'Total' as decimal);
CREATE INDEX mt_doc_invoice_idx_total_received ON cpsledger.mt_doc_invoice USING brin (total_received);
CREATE INDEX mt_doc_invoice_idx_refunded ON cpsledger.mt_doc_invoice USING brin (refunded);
CREATE INDEX mt_doc_invoice_idx_credit_note_total ON cpsledger.mt_doc_invoice USING brin (credit_note_total);
CREATE INDEX mt_doc_invoice_idx_status_due_on ON cpsledger.mt_doc_invoice USING btree ((status), (due_on)) INCLUDE (id, invoice_number, currency, total, outstanding, overpaid, refund_due, total_received, refunded, credit_note_total);
