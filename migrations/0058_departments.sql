-- Departments (issue 26): underwriting, processing, closing, compliance, legal, collections, secondary,
-- executive and marketing as records, with members, business hours and a response SLA per escalation kind.
-- A manager forwards an escalation (a loss-mitigation supervisor a case question) to a department; the item and
-- its immutable hops (forward, answer, return, SLA breach) are what a department member sees.

-- People who are only a department's member (an underwriter, counsel) get their own role: no lead, no list, no
-- figures; their scope is the items forwarded to their departments.
ALTER TABLE users DROP CONSTRAINT users_role_check;
ALTER TABLE users ADD CONSTRAINT users_role_check
    CHECK (role IN ('admin', 'manager', 'lo', 'lossmit', 'lossmit_supervisor', 'intake', 'marketing', 'department'));

-- Escalation kinds that match the work other departments do. Each goes to a department by default
-- (departments::model::default_department) and has its own decision options.
ALTER TABLE escalation_kinds DROP CONSTRAINT escalation_kinds_kind_check;
ALTER TABLE escalation_kinds ADD CONSTRAINT escalation_kinds_kind_check CHECK (kind IN (
    'pricing_exception', 'lock_extension', 'underwriting_scenario', 'complaint', 'compliance',
    'condition_dispute', 'guideline_exception', 'appraisal_issue', 'closing_delay', 'executive'));
INSERT INTO escalation_kinds (kind, label, sla_hours, priority) VALUES
    ('condition_dispute', 'Underwriting condition dispute', 24, 'normal'),
    ('guideline_exception', 'Guideline exception', 24, 'normal'),
    ('appraisal_issue', 'Appraisal issue', 24, 'normal'),
    ('closing_delay', 'Closing delay', 8, 'high'),
    ('executive', 'Executive escalation', 24, 'high');

CREATE TABLE departments (
    id            uuid PRIMARY KEY,
    kind          text NOT NULL UNIQUE CHECK (kind IN ('underwriting', 'processing', 'closing', 'compliance', 'legal',
                                                      'collections', 'secondary', 'executive', 'marketing')),
    name          text NOT NULL CHECK (length(name) BETWEEN 1 AND 120),
    -- Told when an item breaches its SLA (with the forwarding manager).
    lead_user_id  uuid REFERENCES users (id) ON DELETE RESTRICT,
    time_zone     text NOT NULL DEFAULT 'America/Chicago',
    -- Business hours: minutes after local midnight, on ISO weekdays (1 = Monday).
    opens_minute  int NOT NULL DEFAULT 540 CHECK (opens_minute BETWEEN 0 AND 1439),
    closes_minute int NOT NULL DEFAULT 1020 CHECK (closes_minute BETWEEN 1 AND 1440),
    work_days     int[] NOT NULL DEFAULT '{1,2,3,4,5}',
    version       int NOT NULL DEFAULT 1,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    CHECK (opens_minute < closes_minute),
    CHECK (cardinality(work_days) BETWEEN 1 AND 7 AND work_days <@ '{1,2,3,4,5,6,7}')
);

-- Membership is a relation, not a role: a member's scope grows only by the items forwarded to the department.
CREATE TABLE department_members (
    department_id uuid NOT NULL REFERENCES departments (id) ON DELETE RESTRICT,
    user_id       uuid NOT NULL REFERENCES users (id) ON DELETE RESTRICT,
    created_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (department_id, user_id)
);
CREATE INDEX department_members_user_idx ON department_members (user_id);

-- Response time per department and kind of item, in business minutes ('case_question' for loss mitigation).
CREATE TABLE department_slas (
    department_id    uuid NOT NULL REFERENCES departments (id) ON DELETE RESTRICT,
    item_kind        text NOT NULL,
    response_minutes int NOT NULL CHECK (response_minutes BETWEEN 15 AND 43200),
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (department_id, item_kind)
);

-- One forwarded item: an escalation or a loss-mitigation case question, waiting on (or answered by) a department.
-- Its status is the last hop's outcome; the hops are the record.
CREATE TABLE department_items (
    id                 uuid PRIMARY KEY,
    department_id      uuid NOT NULL REFERENCES departments (id) ON DELETE RESTRICT,
    escalation_id      uuid REFERENCES escalations (id) ON DELETE RESTRICT,
    case_id            uuid REFERENCES lossmit_cases (id) ON DELETE RESTRICT,
    item_kind          text NOT NULL,
    status             text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'answered', 'returned')),
    forwarded_by       uuid NOT NULL REFERENCES users (id) ON DELETE RESTRICT,
    forwarded_at       timestamptz NOT NULL,
    due_at             timestamptz NOT NULL,
    answered_at        timestamptz,
    answered_by        uuid REFERENCES users (id) ON DELETE RESTRICT,
    decision           text,
    -- What the loan officer may read: the department's answer (forward and return notes stay internal).
    answer             text NOT NULL DEFAULT '',
    breach_notified_at timestamptz,
    version            int NOT NULL DEFAULT 1,
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now(),
    CHECK ((escalation_id IS NULL) <> (case_id IS NULL))
);
CREATE INDEX department_items_queue_idx ON department_items (department_id, due_at) WHERE status = 'open';
CREATE INDEX department_items_escalation_idx ON department_items (escalation_id, forwarded_at);
CREATE INDEX department_items_case_idx ON department_items (case_id, forwarded_at);
CREATE INDEX department_items_answered_idx ON department_items (department_id, answered_at) WHERE answered_at IS NOT NULL;

-- Every hop, immutable: who, when, why.
CREATE TABLE department_hops (
    id            bigserial PRIMARY KEY,
    item_id       uuid NOT NULL REFERENCES department_items (id) ON DELETE RESTRICT,
    action        text NOT NULL CHECK (action IN ('forward', 'answer', 'return', 'sla_breach')),
    actor_id      uuid REFERENCES users (id) ON DELETE RESTRICT,
    department_id uuid NOT NULL REFERENCES departments (id) ON DELETE RESTRICT,
    decision      text,
    note          text NOT NULL DEFAULT '',
    at            timestamptz NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX department_hops_item_idx ON department_hops (item_id, id);

CREATE FUNCTION department_hops_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'department_hops is append-only' USING ERRCODE = 'insufficient_privilege';
END $$;
CREATE TRIGGER department_hops_no_update BEFORE UPDATE OR DELETE ON department_hops
    FOR EACH ROW EXECUTE FUNCTION department_hops_append_only();
CREATE TRIGGER department_hops_no_truncate BEFORE TRUNCATE ON department_hops
    FOR EACH STATEMENT EXECUTE FUNCTION department_hops_append_only();
