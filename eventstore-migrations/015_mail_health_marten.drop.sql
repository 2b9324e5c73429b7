drop index if exists cpsledger.idx_email_deliveries_unsent;
alter table cpsledger.email_deliveries drop column first_tried_at;
alter table cpsledger.email_deliveries drop column failed_for_good;
