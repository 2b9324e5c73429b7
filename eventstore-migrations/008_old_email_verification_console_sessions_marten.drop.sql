DROP TABLE IF EXISTS cpsledger.mt_doc_consolesession CASCADE;
DROP TABLE IF EXISTS cpsledger.mt_doc_oldcpsemailclaim CASCADE;
DROP TABLE IF EXISTS cpsledger.mt_doc_oldemailcoderequests CASCADE;
