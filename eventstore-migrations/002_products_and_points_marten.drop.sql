DROP TABLE IF EXISTS cpsledger.mt_doc_productmodelview CASCADE;
DROP TABLE IF EXISTS cpsledger.mt_doc_productview CASCADE;
DROP TABLE IF EXISTS cpsledger.mt_doc_serialownership CASCADE;
