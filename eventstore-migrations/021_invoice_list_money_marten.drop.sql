drop index if exists cpsledger.mt_doc_invoice_idx_total_received;
drop index if exists cpsledger.mt_doc_invoice_idx_refunded;
drop index if exists cpsledger.mt_doc_invoice_idx_credit_note_total;
drop index if exists cpsledger.mt_doc_invoice_idx_status_due_on;
CREATE INDEX mt_doc_invoice_idx_status_due_on ON cpsledger.mt_doc_invoice USING btree (status, due_on) INCLUDE (id, invoice_number, currency, total, outstanding, overpaid, refund_due);
alter table cpsledger.mt_doc_invoice drop column total_received;
alter table cpsledger.mt_doc_invoice drop column refunded;
alter table cpsledger.mt_doc_invoice drop column credit_note_total;
