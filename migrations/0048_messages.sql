-- Outbound email (issue 19): every message is a row written in the transaction of the event that causes it,
-- sent later by the job queue. One row per recipient per event (the unique key), whatever retries or
-- instances do; a message that may not go out is still written, as 'suppressed' with its reason, so the lead
-- or user page shows what was held back and why.

CREATE TABLE messages (
    id                bigserial PRIMARY KEY,
    -- What caused it: 'notification:<id>' for a bell notification, 'lead.assigned:<event id>' for a lead
    -- event, 'digest:<user>:<date>' for a digest.
    event_key         text NOT NULL,
    audience          text NOT NULL CHECK (audience IN ('staff', 'borrower')),
    kind              text NOT NULL,
    user_id           uuid REFERENCES users (id) ON DELETE RESTRICT,
    lead_id           uuid REFERENCES leads (id) ON DELETE RESTRICT,
    to_address        text NOT NULL,
    subject           text NOT NULL,
    body              text NOT NULL,
    -- SHA-256 of the token in a borrower message's unsubscribe link (the token itself is only in the email).
    unsubscribe_hash  text UNIQUE,
    status            text NOT NULL DEFAULT 'queued'
                      CHECK (status IN ('queued', 'sent', 'kept', 'bounced', 'suppressed', 'failed')),
    status_reason     text NOT NULL DEFAULT '',
    attempts          int NOT NULL DEFAULT 0,
    last_error        text NOT NULL DEFAULT '',
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    sent_at           timestamptz,
    UNIQUE (event_key, to_address)
);
CREATE INDEX messages_lead_idx ON messages (lead_id, created_at DESC) WHERE lead_id IS NOT NULL;
CREATE INDEX messages_user_idx ON messages (user_id, created_at DESC) WHERE user_id IS NOT NULL;
CREATE INDEX messages_created_idx ON messages (created_at DESC, id DESC);
CREATE INDEX messages_queued_idx ON messages (id) WHERE status = 'queued';

-- The borrower templates an admin edits; merge fields are {{name}} (see messages::model::FIELDS).
CREATE TABLE message_templates (
    kind        text PRIMARY KEY CHECK (kind IN ('first_touch', 'missed_call', 'rate_watch_offer', 'lossmit_ack')),
    subject     text NOT NULL,
    body        text NOT NULL,
    version     int NOT NULL DEFAULT 1,
    updated_by  uuid REFERENCES users (id) ON DELETE RESTRICT,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
INSERT INTO message_templates (kind, subject, body) VALUES
('first_touch', 'Your mortgage inquiry, {{first_name}}',
 E'Hi {{first_name}},\n\nThank you for asking about a mortgage. I am {{lo_name}}, and I will be your loan officer. I will call you shortly; if another time suits you better, just reply to this email.\n\n{{lo_signature}}'),
('missed_call', 'Sorry we missed you, {{first_name}}',
 E'Hi {{first_name}},\n\nI tried to reach you about your mortgage inquiry and could not get through. Reply with a good time to call, or call me back when it suits you.\n\n{{lo_signature}}'),
('rate_watch_offer', 'Rates have moved: a refinance could save you {{monthly_savings}} a month',
 E'Hi {{first_name}},\n\nYour loan''s rate is {{current_rate}}. Today''s rate for a loan like yours is about {{market_rate}}, which could lower your payment by about {{monthly_savings}} a month. This is not a commitment to lend; rates change daily.\n\n{{lo_signature}}'),
('lossmit_ack', 'We received your loss mitigation application',
 E'Dear {{first_name}} {{last_name}},\n\nWe received your loss mitigation application on {{received_on}}. We will tell you within five business days whether it is complete or what is missing.\n\n{{servicer_contact}}');

-- Which notifications a person also gets by email (the bell always has them); no row: the kind's default.
CREATE TABLE message_preferences (
    user_id     uuid NOT NULL REFERENCES users (id) ON DELETE RESTRICT,
    kind        text NOT NULL,
    email       boolean NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, kind)
);
