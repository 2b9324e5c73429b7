DROP TABLE IF EXISTS cpsledger.mt_doc_presentedcharge CASCADE;
