-- Leads, pipelines and their history. Stage and assignment changes are rows (facts); metrics come from them.

CREATE TABLE pipelines (
    id          uuid PRIMARY KEY,
    name        text NOT NULL UNIQUE,
    is_default  boolean NOT NULL DEFAULT false,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX pipelines_one_default ON pipelines (is_default) WHERE is_default;

CREATE TABLE stages (
    pipeline_id      uuid NOT NULL REFERENCES pipelines (id) ON DELETE RESTRICT,
    key              text NOT NULL,
    label            text NOT NULL,
    position         int NOT NULL,
    kind             text NOT NULL CHECK (kind IN ('open', 'won', 'lost', 'nurture')),
    stale_after_days int,
    created_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (pipeline_id, key)
);

CREATE TABLE lost_reasons (
    key         text PRIMARY KEY,
    label       text NOT NULL,
    position    int NOT NULL,
    active      boolean NOT NULL DEFAULT true,
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE lead_sources (
    key                 text PRIMARY KEY,
    label               text NOT NULL,
    cost_per_lead_cents bigint NOT NULL DEFAULT 0 CHECK (cost_per_lead_cents >= 0),
    created_at          timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE leads (
    id                   uuid PRIMARY KEY,
    pipeline_id          uuid NOT NULL REFERENCES pipelines (id) ON DELETE RESTRICT,
    stage                text NOT NULL,
    first_name           text NOT NULL DEFAULT '',
    last_name            text NOT NULL DEFAULT '',
    email                text,
    phone                text,
    property_state       text,
    property_zip         text,
    loan_purpose         text,
    loan_amount_cents    bigint CHECK (loan_amount_cents >= 0),
    property_value_cents bigint CHECK (property_value_cents >= 0),
    credit_band          text,
    occupancy            text,
    property_type        text,
    rate_quoted          numeric(6, 3),
    source               text NOT NULL DEFAULT 'direct',
    campaign             text,
    vendor               text,
    cost_cents           bigint NOT NULL DEFAULT 0,
    external_id          text,
    loan_number          text,
    assigned_lo_id       uuid REFERENCES users (id) ON DELETE RESTRICT,
    team_id              uuid REFERENCES teams (id) ON DELETE RESTRICT,
    assigned_at          timestamptz,
    lost_reason          text REFERENCES lost_reasons (key),
    duplicate_of         uuid REFERENCES leads (id) ON DELETE RESTRICT,
    first_call_at        timestamptz,
    first_contact_at     timestamptz,
    last_activity_at     timestamptz,
    stage_changed_at     timestamptz NOT NULL DEFAULT now(),
    version              int NOT NULL DEFAULT 1,
    created_at           timestamptz NOT NULL DEFAULT now(),
    updated_at           timestamptz NOT NULL DEFAULT now(),
    FOREIGN KEY (pipeline_id, stage) REFERENCES stages (pipeline_id, key) ON DELETE RESTRICT
);
CREATE INDEX leads_created_idx ON leads (created_at DESC, id DESC);
CREATE INDEX leads_lo_created_idx ON leads (assigned_lo_id, created_at DESC, id DESC);
CREATE INDEX leads_team_created_idx ON leads (team_id, created_at DESC, id DESC);
CREATE INDEX leads_stage_idx ON leads (stage, created_at DESC);
CREATE INDEX leads_email_idx ON leads (lower(email)) WHERE email IS NOT NULL;
CREATE INDEX leads_phone_idx ON leads (phone) WHERE phone IS NOT NULL;
CREATE INDEX leads_last_name_idx ON leads (lower(last_name) text_pattern_ops);
CREATE UNIQUE INDEX leads_source_external_idx ON leads (source, external_id) WHERE external_id IS NOT NULL;
CREATE UNIQUE INDEX leads_loan_number_idx ON leads (loan_number) WHERE loan_number IS NOT NULL;
CREATE INDEX leads_unassigned_idx ON leads (created_at) WHERE assigned_lo_id IS NULL;

CREATE TABLE lead_consents (
    id            bigserial PRIMARY KEY,
    lead_id       uuid NOT NULL REFERENCES leads (id) ON DELETE RESTRICT,
    channel       text NOT NULL,
    consent_text  text NOT NULL DEFAULT '',
    captured_at   timestamptz,
    source_page   text,
    token         text,
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX lead_consents_lead_idx ON lead_consents (lead_id);

CREATE TABLE lead_opt_outs (
    lead_id     uuid NOT NULL REFERENCES leads (id) ON DELETE RESTRICT,
    channel     text NOT NULL CHECK (channel IN ('call', 'text', 'email', 'all')),
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (lead_id, channel)
);

CREATE TABLE stage_changes (
    id          bigserial PRIMARY KEY,
    lead_id     uuid NOT NULL REFERENCES leads (id) ON DELETE RESTRICT,
    from_stage  text,
    to_stage    text NOT NULL,
    lo_id       uuid REFERENCES users (id) ON DELETE RESTRICT,
    actor_id    uuid REFERENCES users (id) ON DELETE RESTRICT,
    lost_reason text REFERENCES lost_reasons (key),
    origin      text NOT NULL DEFAULT 'app',
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX stage_changes_lead_idx ON stage_changes (lead_id, created_at);

CREATE TABLE assignments (
    id          bigserial PRIMARY KEY,
    lead_id     uuid NOT NULL REFERENCES leads (id) ON DELETE RESTRICT,
    from_lo_id  uuid REFERENCES users (id) ON DELETE RESTRICT,
    to_lo_id    uuid REFERENCES users (id) ON DELETE RESTRICT,
    to_team_id  uuid REFERENCES teams (id) ON DELETE RESTRICT,
    actor_id    uuid REFERENCES users (id) ON DELETE RESTRICT,
    reason      text NOT NULL DEFAULT '',
    rule_id     uuid,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX assignments_lead_idx ON assignments (lead_id, created_at);
CREATE INDEX assignments_lo_idx ON assignments (to_lo_id, created_at);

CREATE TABLE activities (
    id           bigserial PRIMARY KEY,
    lead_id      uuid NOT NULL REFERENCES leads (id) ON DELETE RESTRICT,
    actor_id     uuid REFERENCES users (id) ON DELETE RESTRICT,
    kind         text NOT NULL CHECK (kind IN ('call', 'email', 'text', 'note', 'meeting')),
    direction    text CHECK (direction IN ('outbound', 'inbound')),
    outcome      text CHECK (outcome IN ('contacted', 'no_answer', 'voicemail', 'bad_number', 'do_not_call')),
    talk_seconds int NOT NULL DEFAULT 0 CHECK (talk_seconds >= 0),
    body         text NOT NULL DEFAULT '',
    occurred_at  timestamptz NOT NULL DEFAULT now(),
    created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX activities_lead_idx ON activities (lead_id, occurred_at);

CREATE TABLE tasks (
    id          bigserial PRIMARY KEY,
    lead_id     uuid NOT NULL REFERENCES leads (id) ON DELETE RESTRICT,
    owner_id    uuid REFERENCES users (id) ON DELETE RESTRICT,
    kind        text NOT NULL DEFAULT 'callback',
    title       text NOT NULL DEFAULT '',
    due_at      timestamptz NOT NULL,
    done_at     timestamptz,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX tasks_open_idx ON tasks (owner_id, due_at) WHERE done_at IS NULL;
CREATE INDEX tasks_lead_idx ON tasks (lead_id);

CREATE TABLE idempotency_keys (
    user_id     uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    key         text NOT NULL,
    lead_id     uuid NOT NULL REFERENCES leads (id) ON DELETE RESTRICT,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, key)
);

-- The default mortgage pipeline.
INSERT INTO pipelines (id, name, is_default) VALUES ('00000000-0000-0000-0000-000000000001', 'Mortgage', true);
INSERT INTO stages (pipeline_id, key, label, position, kind, stale_after_days) VALUES
    ('00000000-0000-0000-0000-000000000001', 'new', 'New', 1, 'open', 1),
    ('00000000-0000-0000-0000-000000000001', 'contacted', 'Contacted', 2, 'open', 3),
    ('00000000-0000-0000-0000-000000000001', 'prequalified', 'Prequalified', 3, 'open', 7),
    ('00000000-0000-0000-0000-000000000001', 'application', 'Application', 4, 'open', 10),
    ('00000000-0000-0000-0000-000000000001', 'processing', 'Processing', 5, 'open', 14),
    ('00000000-0000-0000-0000-000000000001', 'underwriting', 'Underwriting', 6, 'open', 14),
    ('00000000-0000-0000-0000-000000000001', 'clear_to_close', 'Clear to close', 7, 'open', 10),
    ('00000000-0000-0000-0000-000000000001', 'funded', 'Funded', 8, 'won', NULL),
    ('00000000-0000-0000-0000-000000000001', 'lost', 'Lost', 9, 'lost', NULL),
    ('00000000-0000-0000-0000-000000000001', 'nurture', 'Nurture', 10, 'nurture', NULL);
INSERT INTO lost_reasons (key, label, position) VALUES
    ('rate', 'Rate', 1), ('fees', 'Fees / closing costs', 2), ('credit', 'Credit', 3),
    ('dti_income', 'DTI / income', 4), ('no_contact', 'Could not contact', 5),
    ('other_lender', 'Chose another lender', 6), ('not_ready', 'Not ready', 7),
    ('duplicate', 'Duplicate', 8), ('appraisal', 'Appraisal / value', 9), ('other', 'Other', 10);
INSERT INTO lead_sources (key, label, cost_per_lead_cents) VALUES
    ('direct', 'Direct / website', 0), ('referral', 'Referral', 0);
