DO $$
BEGIN      IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_namespace WHERE nspname = 'cpsledger') THEN
        BEGIN
          EXECUTE 'CREATE SCHEMA IF NOT EXISTS cpsledger';
        EXCEPTION
          WHEN duplicate_schema THEN NULL;
          WHEN unique_violation THEN NULL;
        END;
      END IF;

END
$$;


drop index if exists cpsledger.mt_doc_accountmembership_idx_data;
CREATE INDEX mt_doc_accountmembership_idx_membership_numbers ON cpsledger.mt_doc_accountmembership USING gin ((CAST(data ->> 'MembershipNumbers' as jsonb)) jsonb_path_ops);
drop index if exists cpsledger.mt_doc_accountview_idx_data;
CREATE INDEX mt_doc_accountview_idx_old_cps_emails ON cpsledger.mt_doc_accountview USING gin ((CAST(data ->> 'OldCpsEmails' as jsonb)) jsonb_path_ops);
