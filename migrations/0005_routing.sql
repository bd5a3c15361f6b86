-- Lead distribution: routing rules, the per-rule rotation kept in Postgres, every routing decision with its
-- reasons, claim offers, and contact cadences.

CREATE TABLE routing_rules (
    id                    uuid PRIMARY KEY,
    position              int NOT NULL,
    name                  text NOT NULL,
    active                boolean NOT NULL DEFAULT true,
    -- Filters: an empty list (or NULL bound) matches everything.
    sources               text[] NOT NULL DEFAULT '{}',
    campaigns             text[] NOT NULL DEFAULT '{}',
    states                text[] NOT NULL DEFAULT '{}',
    purposes              text[] NOT NULL DEFAULT '{}',
    min_amount_cents      bigint CHECK (min_amount_cents >= 0),
    max_amount_cents      bigint CHECK (max_amount_cents >= 0),
    credit_bands          text[] NOT NULL DEFAULT '{}',
    zip_prefixes          text[] NOT NULL DEFAULT '{}',
    -- Target: LOs of these teams plus these named LOs (both empty = every LO).
    team_ids              uuid[] NOT NULL DEFAULT '{}',
    lo_ids                uuid[] NOT NULL DEFAULT '{}',
    method                text NOT NULL DEFAULT 'round_robin'
        CHECK (method IN ('round_robin', 'weighted_round_robin', 'availability_first', 'performance_weighted', 'claim')),
    claim_minutes         int NOT NULL DEFAULT 10 CHECK (claim_minutes BETWEEN 1 AND 1440),
    -- Used when a claim offer expires unclaimed.
    fallback_method       text NOT NULL DEFAULT 'round_robin'
        CHECK (fallback_method IN ('round_robin', 'weighted_round_robin', 'availability_first', 'performance_weighted')),
    require_working_hours boolean NOT NULL DEFAULT true,
    sla_minutes           int NOT NULL DEFAULT 5 CHECK (sla_minutes BETWEEN 1 AND 10080),
    sla_action            text NOT NULL DEFAULT 'reassign' CHECK (sla_action IN ('reassign', 'escalate')),
    version               int NOT NULL DEFAULT 1,
    created_at            timestamptz NOT NULL DEFAULT now(),
    updated_at            timestamptz NOT NULL DEFAULT now(),
    CHECK (min_amount_cents IS NULL OR max_amount_cents IS NULL OR min_amount_cents <= max_amount_cents)
);
CREATE INDEX routing_rules_position_idx ON routing_rules (position, created_at) WHERE active;

-- One row per rotation ('default' or a rule id). Routing locks it (SELECT ... FOR UPDATE) for the length of the
-- lead-creating transaction, so concurrent instances take turns and never hand out the same turn twice.
CREATE TABLE rule_positions (
    rule_key    text PRIMARY KEY,
    seq         bigint NOT NULL DEFAULT 0,
    last_lo_id  uuid REFERENCES users (id) ON DELETE RESTRICT,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

-- Smooth weighted round robin state per LO in a rotation. `credit` grows by the LO's weight at each decision the
-- LO is eligible for and drops by the total weight when the LO is chosen; `last_seq` is the last decision the LO
-- was eligible for, so an LO returning from time off is re-anchored at zero instead of collecting catch-up leads.
CREATE TABLE routing_counters (
    rule_key    text NOT NULL REFERENCES rule_positions (rule_key) ON DELETE CASCADE,
    lo_id       uuid NOT NULL REFERENCES users (id) ON DELETE RESTRICT,
    credit      bigint NOT NULL DEFAULT 0,
    assigned    bigint NOT NULL DEFAULT 0,
    last_seq    bigint NOT NULL DEFAULT 0,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (rule_key, lo_id)
);

CREATE TABLE routing_decisions (
    id           bigserial PRIMARY KEY,
    lead_id      uuid NOT NULL REFERENCES leads (id) ON DELETE RESTRICT,
    rule_id      uuid REFERENCES routing_rules (id) ON DELETE RESTRICT,
    rule_name    text NOT NULL,
    method       text NOT NULL,
    -- new_lead, sla, handover, claim_expired
    trigger      text NOT NULL,
    outcome      text NOT NULL CHECK (outcome IN ('assigned', 'queued', 'offered')),
    chosen_lo_id uuid REFERENCES users (id) ON DELETE RESTRICT,
    team_id      uuid REFERENCES teams (id) ON DELETE RESTRICT,
    candidates   jsonb NOT NULL DEFAULT '[]',
    summary      text NOT NULL DEFAULT '',
    created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX routing_decisions_lead_idx ON routing_decisions (lead_id, created_at DESC, id DESC);
CREATE INDEX routing_decisions_created_idx ON routing_decisions (created_at DESC, id DESC);

-- A lead offered to a pool of LOs; the first to claim before expires_at gets it.
CREATE TABLE claim_offers (
    id          bigserial PRIMARY KEY,
    lead_id     uuid NOT NULL REFERENCES leads (id) ON DELETE RESTRICT,
    rule_id     uuid REFERENCES routing_rules (id) ON DELETE RESTRICT,
    lo_ids      uuid[] NOT NULL,
    expires_at  timestamptz NOT NULL,
    claimed_by  uuid REFERENCES users (id) ON DELETE RESTRICT,
    resolved_at timestamptz,
    resolution  text CHECK (resolution IN ('claimed', 'expired', 'withdrawn')),
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX claim_offers_open_idx ON claim_offers (lead_id) WHERE resolution IS NULL;

-- Where a lead stands in its contact cadence (the attempt schedule after assignment).
CREATE TABLE lead_cadences (
    lead_id     uuid PRIMARY KEY REFERENCES leads (id) ON DELETE RESTRICT,
    lo_id       uuid NOT NULL REFERENCES users (id) ON DELETE RESTRICT,
    started_at  timestamptz NOT NULL,
    step        int NOT NULL DEFAULT 0,
    status      text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'contacted', 'completed', 'stopped')),
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX lead_cadences_lo_idx ON lead_cadences (lo_id, status);
CREATE INDEX routing_cadence_tasks_idx ON tasks (owner_id, due_at) WHERE kind = 'cadence';

-- Attempt schedule: windows in minutes after assignment (at once, 30-60 min, 1-2 h, then days 2, 3, 5, 8, 14).
INSERT INTO settings (key, value) VALUES
    ('routing.cadence', '{"attempts": [[0, 5], [30, 60], [60, 120], [1440, 2880], [2880, 4320], [5760, 7200], [10080, 11520], [18720, 20160]], "max_voicemails": 2}'),
    ('routing.default_sla_minutes', '5')
ON CONFLICT (key) DO NOTHING;
