DROP SEQUENCE IF EXISTS cpsledger.membership_number_seq;
DROP TABLE IF EXISTS cpsledger.mt_doc_accountmembership CASCADE;
DROP TABLE IF EXISTS cpsledger.mt_doc_membershipnumberclaim CASCADE;
DROP TABLE IF EXISTS cpsledger.mt_doc_tiertableview CASCADE;
