DROP TABLE IF EXISTS cpsledger.mt_doc_creditnotenumberclaim CASCADE;
DROP TABLE IF EXISTS cpsledger.mt_doc_creditnotenumbercounter CASCADE;
DROP TABLE IF EXISTS cpsledger.mt_doc_vatratetable CASCADE;
