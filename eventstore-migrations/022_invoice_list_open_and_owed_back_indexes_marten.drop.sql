drop index if exists cpsledger.mt_doc_invoice_idx_still_owed;
drop index if exists cpsledger.mt_doc_invoice_idx_owed_back;
