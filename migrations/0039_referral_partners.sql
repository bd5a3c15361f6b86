-- Referral partners (issue 17): the Realtors, builders and others who send borrowers, as records with their
-- company and the people there; a lead names the partner who referred it (besides, or instead of, a past
-- client by loan number), so each partner's referred and funded volume is counted from real leads.
CREATE TABLE referral_partners (
    id         uuid PRIMARY KEY,
    company    text NOT NULL CHECK (length(company) BETWEEN 1 AND 120),
    kind       text NOT NULL DEFAULT 'realtor'
        CHECK (kind IN ('realtor', 'builder', 'financial_planner', 'attorney', 'insurance', 'other')),
    phone      text CHECK (length(phone) <= 40),
    email      text CHECK (length(email) <= 254),
    notes      text NOT NULL DEFAULT '' CHECK (length(notes) <= 2000),
    -- The LO or manager who keeps the relationship (optional).
    owner_id   uuid REFERENCES users (id) ON DELETE SET NULL,
    retired_at timestamptz,
    version    int NOT NULL DEFAULT 1,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX referral_partners_company_idx ON referral_partners (lower(company));

CREATE TABLE referral_partner_contacts (
    id         uuid PRIMARY KEY,
    partner_id uuid NOT NULL REFERENCES referral_partners (id) ON DELETE CASCADE,
    name       text NOT NULL CHECK (length(name) BETWEEN 1 AND 120),
    title      text CHECK (length(title) <= 120),
    phone      text CHECK (length(phone) <= 40),
    email      text CHECK (length(email) <= 254),
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX referral_partner_contacts_partner_idx ON referral_partner_contacts (partner_id);

ALTER TABLE leads ADD COLUMN referral_partner_id uuid REFERENCES referral_partners (id) ON DELETE RESTRICT;
CREATE INDEX leads_referral_partner_idx ON leads (referral_partner_id, created_at) WHERE referral_partner_id IS NOT NULL;
