-- Loss mitigation: cases of delinquent loans, their immutable records (contacts, notices, documents,
-- applications, assessments, decisions, appeals, foreclosure steps, assignments, stage changes) and a view of
-- the dated facts the Regulation X clocks are computed from.

CREATE TABLE lossmit_cases (
    id                     uuid PRIMARY KEY,
    loan_number            text NOT NULL,
    borrower_name          text NOT NULL,
    co_borrower_name       text NOT NULL DEFAULT '',
    borrower_phone         text NOT NULL DEFAULT '',
    borrower_email         text NOT NULL DEFAULT '',
    property_address       text NOT NULL DEFAULT '',
    property_state         text NOT NULL CHECK (property_state ~ '^[A-Z]{2}$'),
    investor               text NOT NULL CHECK (investor IN ('fannie_mae', 'freddie_mac', 'fha', 'va', 'usda', 'portfolio')),
    upb_cents              bigint NOT NULL CHECK (upb_cents >= 0),
    note_rate              numeric(6, 3) NOT NULL CHECK (note_rate >= 0 AND note_rate < 100),
    remaining_term_months  int NOT NULL CHECK (remaining_term_months BETWEEN 1 AND 600),
    monthly_pi_cents       bigint NOT NULL CHECK (monthly_pi_cents >= 0),
    monthly_escrow_cents   bigint NOT NULL DEFAULT 0 CHECK (monthly_escrow_cents >= 0),
    first_unpaid_due_date  date NOT NULL,
    sale_date              date,
    specialist_id          uuid REFERENCES users (id) ON DELETE RESTRICT,
    stage                  text NOT NULL DEFAULT 'early_intervention'
                           CHECK (stage IN ('early_intervention', 'application', 'evaluation', 'offer', 'trial_plan', 'resolved')),
    resolution             text CHECK (resolution IN ('cured', 'modified', 'short_sale', 'deed_in_lieu', 'foreclosure', 'paid_off')),
    resolved_on            date,
    created_by             uuid REFERENCES users (id) ON DELETE RESTRICT,
    version                int NOT NULL DEFAULT 1,
    created_at             timestamptz NOT NULL DEFAULT now(),
    updated_at             timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT lossmit_cases_loan_number_key UNIQUE (loan_number),
    CONSTRAINT lossmit_cases_resolution_stage CHECK ((stage = 'resolved') = (resolution IS NOT NULL))
);
CREATE INDEX lossmit_cases_specialist_idx ON lossmit_cases (specialist_id, stage);
CREATE INDEX lossmit_cases_stage_idx ON lossmit_cases (stage, created_at);

-- Records below are evidence for an examiner: the database refuses to change or delete them.
CREATE FUNCTION lossmit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is an immutable record', TG_TABLE_NAME USING ERRCODE = 'insufficient_privilege';
END $$;

CREATE TABLE lossmit_contact_attempts (
    id           bigserial PRIMARY KEY,
    case_id      uuid NOT NULL REFERENCES lossmit_cases (id) ON DELETE RESTRICT,
    occurred_on  date NOT NULL,
    channel      text NOT NULL CHECK (channel IN ('phone', 'email', 'letter', 'text', 'in_person')),
    live_contact boolean NOT NULL DEFAULT false,
    outcome      text NOT NULL DEFAULT '',
    actor_id     uuid REFERENCES users (id) ON DELETE RESTRICT,
    created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX lossmit_contact_attempts_case_idx ON lossmit_contact_attempts (case_id, occurred_on);

CREATE TABLE lossmit_notices (
    id          bigserial PRIMARY KEY,
    case_id     uuid NOT NULL REFERENCES lossmit_cases (id) ON DELETE RESTRICT,
    kind        text NOT NULL CHECK (kind IN ('early_intervention', 'acknowledgment', 'decision', 'appeal_decision', 'other')),
    sent_on     date NOT NULL,
    note        text NOT NULL DEFAULT '',
    actor_id    uuid REFERENCES users (id) ON DELETE RESTRICT,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX lossmit_notices_case_idx ON lossmit_notices (case_id, kind, sent_on);

CREATE TABLE lossmit_documents (
    id           bigserial PRIMARY KEY,
    case_id      uuid NOT NULL REFERENCES lossmit_cases (id) ON DELETE RESTRICT,
    document     text NOT NULL CHECK (document IN ('assistance_form', 'income', 'tax_return', 'bank_statements', 'hardship_letter', 'other')),
    received_on  date NOT NULL,
    note         text NOT NULL DEFAULT '',
    actor_id     uuid REFERENCES users (id) ON DELETE RESTRICT,
    created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX lossmit_documents_case_idx ON lossmit_documents (case_id, document);

-- Each row is the application as known at that point; the latest row is current.
CREATE TABLE lossmit_applications (
    id           bigserial PRIMARY KEY,
    case_id      uuid NOT NULL REFERENCES lossmit_cases (id) ON DELETE RESTRICT,
    received_on  date NOT NULL,
    complete_on  date CHECK (complete_on >= received_on),
    actor_id     uuid REFERENCES users (id) ON DELETE RESTRICT,
    created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX lossmit_applications_case_idx ON lossmit_applications (case_id, id DESC);

-- Each row is a full assessment; the latest row is current.
CREATE TABLE lossmit_assessments (
    id                      bigserial PRIMARY KEY,
    case_id                 uuid NOT NULL REFERENCES lossmit_cases (id) ON DELETE RESTRICT,
    wages_cents             bigint NOT NULL DEFAULT 0 CHECK (wages_cents >= 0),
    self_employment_cents   bigint NOT NULL DEFAULT 0 CHECK (self_employment_cents >= 0),
    benefits_cents          bigint NOT NULL DEFAULT 0 CHECK (benefits_cents >= 0),
    rental_cents            bigint NOT NULL DEFAULT 0 CHECK (rental_cents >= 0),
    other_income_cents      bigint NOT NULL DEFAULT 0 CHECK (other_income_cents >= 0),
    other_debts_cents       bigint NOT NULL DEFAULT 0 CHECK (other_debts_cents >= 0),
    living_expenses_cents   bigint NOT NULL DEFAULT 0 CHECK (living_expenses_cents >= 0),
    hardship_reason         text NOT NULL CHECK (hardship_reason IN ('unemployment', 'reduced_income', 'illness', 'death', 'divorce', 'disaster', 'increased_expenses', 'other')),
    hardship_duration       text NOT NULL CHECK (hardship_duration IN ('temporary', 'permanent')),
    note                    text NOT NULL DEFAULT '',
    actor_id                uuid REFERENCES users (id) ON DELETE RESTRICT,
    created_at              timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX lossmit_assessments_case_idx ON lossmit_assessments (case_id, id DESC);

CREATE TABLE lossmit_decisions (
    id          bigserial PRIMARY KEY,
    case_id     uuid NOT NULL REFERENCES lossmit_cases (id) ON DELETE RESTRICT,
    option      text NOT NULL CHECK (option IN ('repayment_plan', 'forbearance', 'modification', 'short_sale', 'deed_in_lieu')),
    approved    boolean NOT NULL,
    decided_on  date NOT NULL,
    reason      text NOT NULL DEFAULT '',
    terms       jsonb NOT NULL DEFAULT '{}',
    actor_id    uuid REFERENCES users (id) ON DELETE RESTRICT,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX lossmit_decisions_case_idx ON lossmit_decisions (case_id, decided_on);

CREATE TABLE lossmit_appeals (
    id          bigserial PRIMARY KEY,
    case_id     uuid NOT NULL REFERENCES lossmit_cases (id) ON DELETE RESTRICT,
    filed_on    date NOT NULL,
    actor_id    uuid REFERENCES users (id) ON DELETE RESTRICT,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX lossmit_appeals_case_idx ON lossmit_appeals (case_id, filed_on);

CREATE TABLE lossmit_appeal_decisions (
    id          bigserial PRIMARY KEY,
    appeal_id   bigint NOT NULL REFERENCES lossmit_appeals (id) ON DELETE RESTRICT,
    decided_on  date NOT NULL,
    granted     boolean NOT NULL,
    reason      text NOT NULL DEFAULT '',
    actor_id    uuid REFERENCES users (id) ON DELETE RESTRICT,
    created_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT lossmit_appeal_decisions_one UNIQUE (appeal_id)
);

CREATE TABLE lossmit_foreclosure_steps (
    id           bigserial PRIMARY KEY,
    case_id      uuid NOT NULL REFERENCES lossmit_cases (id) ON DELETE RESTRICT,
    step         text NOT NULL CHECK (step IN ('first_filing', 'motion_for_judgment', 'sale')),
    occurred_on  date NOT NULL,
    actor_id     uuid REFERENCES users (id) ON DELETE RESTRICT,
    created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX lossmit_foreclosure_steps_case_idx ON lossmit_foreclosure_steps (case_id, step);

CREATE TABLE lossmit_assignments (
    id                  bigserial PRIMARY KEY,
    case_id             uuid NOT NULL REFERENCES lossmit_cases (id) ON DELETE RESTRICT,
    from_specialist_id  uuid REFERENCES users (id) ON DELETE RESTRICT,
    to_specialist_id    uuid NOT NULL REFERENCES users (id) ON DELETE RESTRICT,
    assigned_on         date NOT NULL,
    reason              text NOT NULL DEFAULT '',
    actor_id            uuid REFERENCES users (id) ON DELETE RESTRICT,
    created_at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX lossmit_assignments_case_idx ON lossmit_assignments (case_id, id);

CREATE TABLE lossmit_stage_changes (
    id          bigserial PRIMARY KEY,
    case_id     uuid NOT NULL REFERENCES lossmit_cases (id) ON DELETE RESTRICT,
    from_stage  text,
    to_stage    text NOT NULL,
    resolution  text,
    changed_on  date NOT NULL,
    actor_id    uuid REFERENCES users (id) ON DELETE RESTRICT,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX lossmit_stage_changes_case_idx ON lossmit_stage_changes (case_id, id);

DO $$
DECLARE t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['lossmit_contact_attempts', 'lossmit_notices', 'lossmit_documents', 'lossmit_applications',
        'lossmit_assessments', 'lossmit_decisions', 'lossmit_appeals', 'lossmit_appeal_decisions',
        'lossmit_foreclosure_steps', 'lossmit_assignments', 'lossmit_stage_changes'] LOOP
        EXECUTE format('CREATE TRIGGER %I BEFORE UPDATE OR DELETE ON %I FOR EACH ROW EXECUTE FUNCTION lossmit_append_only()', t || '_immutable', t);
        EXECUTE format('CREATE TRIGGER %I BEFORE TRUNCATE ON %I FOR EACH STATEMENT EXECUTE FUNCTION lossmit_append_only()', t || '_no_truncate', t);
    END LOOP;
END $$;

-- The dated facts of each case the clocks need, one row per case.
CREATE VIEW lossmit_case_facts AS
SELECT c.id AS case_id,
       (SELECT min(occurred_on) FROM lossmit_contact_attempts x WHERE x.case_id = c.id AND x.live_contact) AS first_live_contact_on,
       (SELECT min(sent_on) FROM lossmit_notices n WHERE n.case_id = c.id AND n.kind = 'early_intervention') AS written_notice_on,
       (SELECT min(assigned_on) FROM lossmit_assignments a WHERE a.case_id = c.id) AS specialist_assigned_on,
       app.received_on AS app_received_on,
       app.complete_on AS app_complete_on,
       (SELECT min(sent_on) FROM lossmit_notices n WHERE n.case_id = c.id AND n.kind = 'acknowledgment'
          AND n.sent_on >= app.received_on) AS acknowledged_on,
       dec.decided_on AS decided_on,
       dec.approved AS decision_approved,
       ap.filed_on AS appeal_filed_on,
       ad.decided_on AS appeal_decided_on,
       ad.granted AS appeal_granted,
       (SELECT min(occurred_on) FROM lossmit_foreclosure_steps s WHERE s.case_id = c.id AND s.step = 'first_filing') AS first_filing_on
FROM lossmit_cases c
LEFT JOIN LATERAL (SELECT received_on, complete_on FROM lossmit_applications a WHERE a.case_id = c.id ORDER BY a.id DESC LIMIT 1) app ON true
LEFT JOIN LATERAL (SELECT decided_on, approved FROM lossmit_decisions d WHERE d.case_id = c.id
                     AND app.complete_on IS NOT NULL AND d.decided_on >= app.complete_on
                   ORDER BY d.decided_on, d.id LIMIT 1) dec ON true
LEFT JOIN LATERAL (SELECT id, filed_on FROM lossmit_appeals p WHERE p.case_id = c.id
                     AND dec.decided_on IS NOT NULL AND p.filed_on >= dec.decided_on
                   ORDER BY p.filed_on, p.id LIMIT 1) ap ON true
LEFT JOIN lossmit_appeal_decisions ad ON ad.appeal_id = ap.id;
