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
alter table cpsledger.mt_doc_invoice add column status varchar NULL;update cpsledger.mt_doc_invoice set "status" = data ->> 'Status';
alter table cpsledger.mt_doc_invoice add column currency varchar NULL;update cpsledger.mt_doc_invoice set "currency" = data ->> 'Currency';
alter table cpsledger.mt_doc_invoice add column payment_method varchar NULL;update cpsledger.mt_doc_invoice set "payment_method" = data ->> 'PaymentMethod';
alter table cpsledger.mt_doc_invoice add column due_on date NULL;update cpsledger.mt_doc_invoice set "due_on" = cpsledger.mt_immutable_date(data ->> 'DueOn');
alter table cpsledger.mt_doc_invoice add column issued_on date NULL;update cpsledger.mt_doc_invoice set "issued_on" = cpsledger.mt_immutable_date(data ->> 'IssuedOn');
alter table cpsledger.mt_doc_invoice add column total decimal NULL;update cpsledger.mt_doc_invoice set "total" = CAST(data ->> 'Total' as decimal);
alter table cpsledger.mt_doc_invoice add column outstanding decimal NULL;update cpsledger.mt_doc_invoice set "outstanding" = CAST(data ->> 'Outstanding' as decimal);
alter table cpsledger.mt_doc_invoice add column overpaid decimal NULL;update cpsledger.mt_doc_invoice set "overpaid" = CAST(data ->> 'Overpaid' as decimal);
alter table cpsledger.mt_doc_invoice add column refund_due decimal NULL;update cpsledger.mt_doc_invoice set "refund_due" = CAST(data ->> 'RefundDue' as decimal);
CREATE INDEX mt_doc_invoice_idx_status ON cpsledger.mt_doc_invoice USING btree (status);
CREATE INDEX mt_doc_invoice_idx_currency ON cpsledger.mt_doc_invoice USING btree (currency);
CREATE INDEX mt_doc_invoice_idx_payment_method ON cpsledger.mt_doc_invoice USING btree (payment_method);
CREATE INDEX mt_doc_invoice_idx_due_on ON cpsledger.mt_doc_invoice USING brin (due_on);
CREATE INDEX mt_doc_invoice_idx_issued_on ON cpsledger.mt_doc_invoice USING brin (issued_on);
CREATE INDEX mt_doc_invoice_idx_total ON cpsledger.mt_doc_invoice USING brin (total);
CREATE INDEX mt_doc_invoice_idx_outstanding ON cpsledger.mt_doc_invoice USING btree (outstanding) WHERE (outstanding > (0)::numeric);
CREATE INDEX mt_doc_invoice_idx_overpaid ON cpsledger.mt_doc_invoice USING btree (overpaid) WHERE (overpaid > (0)::numeric);
CREATE INDEX mt_doc_invoice_idx_refund_due ON cpsledger.mt_doc_invoice USING btree (refund_due) WHERE (refund_due > (0)::numeric);
CREATE INDEX mt_doc_invoice_idx_status_due_on ON cpsledger.mt_doc_invoice USING btree ((status), (due_on)) INCLUDE (id, invoice_number, currency, total, outstanding, overpaid, refund_due);
