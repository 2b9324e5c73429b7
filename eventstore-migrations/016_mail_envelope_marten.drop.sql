drop index if exists cpsledger.idx_email_deliveries_envelope;
alter table cpsledger.email_deliveries drop column envelope_id;
