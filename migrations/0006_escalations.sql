-- Escalations and pricing exceptions: the manager's approval queue, its configurable authority limits and
-- SLAs, the immutable history of every comment and decision, attachments, and coaching reviews.

-- Per kind: how fast it must be decided and how it ranks in the queue (editable at /escalations/settings).
CREATE TABLE escalation_kinds (
    kind        text PRIMARY KEY CHECK (kind IN ('pricing_exception', 'lock_extension', 'underwriting_scenario',
                                                'complaint', 'compliance')),
    label       text NOT NULL,
    sla_hours   int NOT NULL CHECK (sla_hours BETWEEN 1 AND 720),
    priority    text NOT NULL CHECK (priority IN ('low', 'normal', 'high', 'urgent')),
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
INSERT INTO escalation_kinds (kind, label, sla_hours, priority) VALUES
    ('pricing_exception', 'Pricing exception', 4, 'high'),
    ('lock_extension', 'Lock extension', 8, 'high'),
    ('underwriting_scenario', 'Underwriting scenario', 24, 'normal'),
    ('complaint', 'Complaint', 24, 'urgent'),
    ('compliance', 'Compliance (consent, disclosure)', 8, 'urgent');

-- Approval authority: how many basis points of concession a role, or one named user, may approve.
-- A row for a user overrides their role's row. Level names the approver tier shown in the queue:
-- managers decide for their own teams; the pricing desk and admins decide for every team.
-- max_bps NULL means no limit.
CREATE TABLE approver_limits (
    id          bigserial PRIMARY KEY,
    level       text NOT NULL CHECK (level IN ('manager', 'pricing_desk', 'admin')),
    role        text CHECK (role IN ('manager', 'admin')),
    user_id     uuid REFERENCES users (id) ON DELETE RESTRICT,
    max_bps     int CHECK (max_bps >= 0),
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    CHECK ((role IS NULL) <> (user_id IS NULL))
);
CREATE UNIQUE INDEX approver_limits_role_idx ON approver_limits (role) WHERE role IS NOT NULL;
CREATE UNIQUE INDEX approver_limits_user_idx ON approver_limits (user_id) WHERE user_id IS NOT NULL;
INSERT INTO approver_limits (level, role, max_bps) VALUES ('manager', 'manager', 25), ('admin', 'admin', NULL);

-- Fair-lending screen thresholds: a segment is flagged when its concession rate differs from the rest by more
-- than rate_points percentage points, or its average granted bps by more than avg_bps.
INSERT INTO settings (key, value) VALUES ('escalations.fair_lending', '{"rate_points": 10, "avg_bps": 5}');

CREATE TABLE escalations (
    id               uuid PRIMARY KEY,
    lead_id          uuid NOT NULL REFERENCES leads (id) ON DELETE RESTRICT,
    requester_id     uuid NOT NULL REFERENCES users (id) ON DELETE RESTRICT,
    -- The lead's team when filed (the queue it waits in).
    team_id          uuid REFERENCES teams (id) ON DELETE RESTRICT,
    kind             text NOT NULL REFERENCES escalation_kinds (kind) ON DELETE RESTRICT,
    priority         text NOT NULL CHECK (priority IN ('low', 'normal', 'high', 'urgent')),
    status           text NOT NULL DEFAULT 'requested'
                     CHECK (status IN ('requested', 'in_review', 'approved', 'denied', 'countered', 'closed')),
    standard_rate    numeric(6, 3),
    requested_rate   numeric(6, 3),
    standard_price   numeric(6, 3),
    requested_price  numeric(6, 3),
    concession_bps   int NOT NULL DEFAULT 0 CHECK (concession_bps BETWEEN 0 AND 1000),
    -- Loan amount × bps / 10,000 at filing time, in cents.
    concession_cents bigint NOT NULL DEFAULT 0 CHECK (concession_cents >= 0),
    loan_amount_cents bigint,
    reason           text NOT NULL DEFAULT 'other'
                     CHECK (reason IN ('competitor_match', 'relationship_retention', 'pricing_error', 'other')),
    competitor_name  text,
    competitor_offer text,
    note             text NOT NULL DEFAULT '',
    required_level   text NOT NULL CHECK (required_level IN ('manager', 'pricing_desk', 'admin')),
    current_level    text NOT NULL CHECK (current_level IN ('manager', 'pricing_desk', 'admin')),
    due_at           timestamptz NOT NULL,
    -- The latest decision (the history is in escalation_events).
    decision         text CHECK (decision IN ('approve', 'deny', 'counter')),
    granted_bps      int NOT NULL DEFAULT 0 CHECK (granted_bps >= 0),
    granted_cents    bigint NOT NULL DEFAULT 0 CHECK (granted_cents >= 0),
    decided_by       uuid REFERENCES users (id) ON DELETE RESTRICT,
    decided_at       timestamptz,
    first_decided_at timestamptz,
    sla_breach_notified_at timestamptz,
    version          int NOT NULL DEFAULT 1,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX escalations_open_idx ON escalations (created_at, id) WHERE status IN ('requested', 'in_review');
CREATE INDEX escalations_team_idx ON escalations (team_id, created_at);
CREATE INDEX escalations_requester_idx ON escalations (requester_id, created_at DESC);
CREATE INDEX escalations_lead_idx ON escalations (lead_id, created_at DESC);

-- Every step, never changed: comments, status changes, decisions (who, when, why).
CREATE TABLE escalation_events (
    id             bigserial PRIMARY KEY,
    escalation_id  uuid NOT NULL REFERENCES escalations (id) ON DELETE RESTRICT,
    actor_id       uuid REFERENCES users (id) ON DELETE RESTRICT,
    kind           text NOT NULL CHECK (kind IN ('created', 'comment', 'status', 'decision', 'sla_breach')),
    from_status    text,
    to_status      text,
    decision       text CHECK (decision IN ('approve', 'deny', 'counter')),
    counter_bps    int CHECK (counter_bps > 0),
    note           text NOT NULL DEFAULT '',
    created_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX escalation_events_escalation_idx ON escalation_events (escalation_id, id);
CREATE INDEX escalation_events_decision_idx ON escalation_events (escalation_id, created_at) WHERE kind = 'decision';

CREATE FUNCTION escalation_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'escalation_events is append-only' USING ERRCODE = 'insufficient_privilege';
END $$;
CREATE TRIGGER escalation_events_no_update BEFORE UPDATE OR DELETE ON escalation_events
    FOR EACH ROW EXECUTE FUNCTION escalation_events_append_only();

CREATE TABLE escalation_attachments (
    id             uuid PRIMARY KEY,
    escalation_id  uuid NOT NULL REFERENCES escalations (id) ON DELETE RESTRICT,
    file_name      text NOT NULL,
    content_type   text NOT NULL,
    size_bytes     int NOT NULL CHECK (size_bytes BETWEEN 1 AND 5242880),
    bytes          bytea NOT NULL,
    uploaded_by    uuid NOT NULL REFERENCES users (id) ON DELETE RESTRICT,
    created_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX escalation_attachments_escalation_idx ON escalation_attachments (escalation_id);

-- A manager's coaching review of an LO, with the numbers as they stood when it was opened.
CREATE TABLE coaching_reviews (
    id            bigserial PRIMARY KEY,
    lo_id         uuid NOT NULL REFERENCES users (id) ON DELETE RESTRICT,
    manager_id    uuid NOT NULL REFERENCES users (id) ON DELETE RESTRICT,
    metrics       jsonb NOT NULL,
    notes         text NOT NULL DEFAULT '',
    follow_up_on  date,
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX coaching_reviews_lo_idx ON coaching_reviews (lo_id, created_at DESC);
