-- Lead sources become managed records (issue 17): the vendor and channel behind each, how it is paid for
-- (per lead, a flat monthly fee, or per funded loan, with its amount), whether an admin has reviewed it (a lead
-- posted under a name nobody set up is kept under that name and its source is added unreviewed), and when it
-- was retired (kept for history and reports, no longer offered on forms). Campaigns are records under a source.
ALTER TABLE lead_sources
    ADD COLUMN vendor     text,
    ADD COLUMN channel    text NOT NULL DEFAULT 'other'
        CHECK (channel IN ('aggregator', 'paid_search', 'social', 'website', 'referral', 'partner', 'direct_mail', 'other')),
    ADD COLUMN cost_model text NOT NULL DEFAULT 'per_lead' CHECK (cost_model IN ('per_lead', 'monthly', 'per_funded')),
    ADD COLUMN cost_cents bigint NOT NULL DEFAULT 0 CHECK (cost_cents >= 0),
    ADD COLUMN reviewed   boolean NOT NULL DEFAULT true,
    ADD COLUMN retired_at timestamptz,
    ADD COLUMN version    int NOT NULL DEFAULT 1,
    ADD COLUMN updated_at timestamptz NOT NULL DEFAULT now();
UPDATE lead_sources SET cost_cents = cost_per_lead_cents;
-- Sources already on leads that nobody set up are listed for review.
INSERT INTO lead_sources (key, label, reviewed)
SELECT DISTINCT l.source, l.source, false FROM leads l
WHERE NOT EXISTS (SELECT 1 FROM lead_sources s WHERE s.key = l.source)
ON CONFLICT (key) DO NOTHING;

CREATE TABLE lead_campaigns (
    source     text NOT NULL REFERENCES lead_sources (key) ON DELETE RESTRICT,
    key        text NOT NULL CHECK (key ~ '^[a-z0-9][a-z0-9_.-]{0,63}$'),
    label      text NOT NULL CHECK (length(label) BETWEEN 1 AND 120),
    retired_at timestamptz,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (source, key)
);
