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


CREATE TABLE IF NOT EXISTS cpsledger.mt_doc_presentedcharge (
    id                  varchar                     NOT NULL,
    data                jsonb                       NOT NULL,
    mt_last_modified    timestamp with time zone    NULL DEFAULT (transaction_timestamp()),
    mt_version          uuid                        NOT NULL DEFAULT (md5(random()::text || clock_timestamp()::text)::uuid),
    mt_dotnet_type      varchar                     NULL,
CONSTRAINT pkey_mt_doc_presentedcharge_id PRIMARY KEY (id)
);

-- begin backfill:presented-charges (written by hand: eventstore-migrations/README.md)
-- A card charge (ChargeCard) in Wolverine's inbox (scheduled, waiting or being retried) or dead letters when this release comes in may
-- have presented the card in a delivery made before charges left a PresentedCharge: each gets one, so that on an invoice paid or
-- cancelled meanwhile it still asks the gateway what it holds for the key. Not for an attempt the invoice has recorded. The message
-- is the JSON at the end of Wolverine's stored envelope (headers, then the message's length in 4 bytes, little-endian, then the
-- message): its start is the '{' after which exactly that length is left. An envelope that cannot be read stops the block whole.
DO $backfill$
BEGIN
    CREATE TEMP TABLE charge_cards_in_flight ON COMMIT DROP AS
    SELECT envelope.id, decoded.message ->> 'invoiceId' AS invoice_id, decoded.message ->> 'attempt' AS attempt
    FROM (
        SELECT id, body FROM cpsledger.wolverine_incoming_envelopes
        WHERE message_type = 'CpsLedger.Api.Invoicing.ChargeCard' AND status <> 'Handled'
        UNION ALL
        SELECT id, body FROM cpsledger.wolverine_dead_letters
        WHERE message_type = 'CpsLedger.Api.Invoicing.ChargeCard'
    ) envelope
    LEFT JOIN LATERAL (
        SELECT convert_from(substring(envelope.body FROM s), 'UTF8')::jsonb AS message
        FROM generate_series(length(envelope.body), 5, -1) s
        WHERE get_byte(envelope.body, s - 1) = 123
          AND get_byte(envelope.body, s - 5)::bigint + (get_byte(envelope.body, s - 4)::bigint << 8)
              + (get_byte(envelope.body, s - 3)::bigint << 16) + (get_byte(envelope.body, s - 2)::bigint << 24) = length(envelope.body) - s + 1
        ORDER BY s DESC
        LIMIT 1
    ) decoded ON true;

    IF EXISTS (SELECT 1 FROM charge_cards_in_flight WHERE invoice_id IS NULL OR attempt IS NULL) THEN
        RAISE EXCEPTION 'backfill:presented-charges: the ChargeCard envelope(s) % could not be read; no PresentedCharge written',
            (SELECT string_agg(id::text, ', ') FROM charge_cards_in_flight WHERE invoice_id IS NULL OR attempt IS NULL);
    END IF;

    INSERT INTO cpsledger.mt_doc_presentedcharge (id, data, mt_dotnet_type)
    SELECT DISTINCT ON (marker.key) marker.key,
        jsonb_build_object('Id', marker.key, 'InvoiceId', invoice.id, 'Attempt', flight.attempt::int, 'MarkedAt', now()),
        'CpsLedger.Api.Invoicing.PresentedCharge'
    FROM charge_cards_in_flight flight
    JOIN cpsledger.mt_doc_invoice invoice ON invoice.id = flight.invoice_id::uuid
    CROSS JOIN LATERAL (SELECT invoice.invoice_number || '-attempt-' || flight.attempt AS key) marker
    WHERE NOT EXISTS (SELECT 1 FROM jsonb_array_elements(invoice.data -> 'ChargeAttempts') recorded
                      WHERE (recorded ->> 'Attempt')::int >= flight.attempt::int)
    ON CONFLICT (id) DO NOTHING;
END
$backfill$;
-- end backfill:presented-charges
