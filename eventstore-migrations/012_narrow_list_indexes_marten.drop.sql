drop index if exists cpsledger.mt_doc_accountmembership_idx_membership_numbers;
CREATE INDEX mt_doc_accountmembership_idx_data ON cpsledger.mt_doc_accountmembership USING gin (data jsonb_path_ops);
drop index if exists cpsledger.mt_doc_accountview_idx_old_cps_emails;
CREATE INDEX mt_doc_accountview_idx_data ON cpsledger.mt_doc_accountview USING gin (data jsonb_path_ops);
