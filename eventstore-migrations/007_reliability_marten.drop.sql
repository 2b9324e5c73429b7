DROP TABLE IF EXISTS cpsledger.email_deliveries CASCADE;
DROP TABLE IF EXISTS cpsledger.mt_doc_consumedidempotencykey CASCADE;
DROP TABLE IF EXISTS cpsledger.mt_doc_reconciliationreport CASCADE;
