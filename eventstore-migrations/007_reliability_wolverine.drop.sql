DO LANGUAGE plpgsql $tran$
BEGIN

alter table cpsledger.wolverine_outgoing_envelopes drop column timestamp;
alter table cpsledger.wolverine_incoming_envelopes drop column timestamp;
DROP TABLE IF EXISTS cpsledger.wolverine_deduplication_hashed CASCADE;
DROP TABLE IF EXISTS cpsledger.wolverine_recurring_messages CASCADE;

END;
$tran$;
