-- Issue 24: retention by rule per record kind, legal holds, and disposal that leaves nothing identifying.
--
-- Disposal scrubs a person's identifying values in place (the rows stay, so counts and the rollups of past
-- periods are unchanged). The append-only tables accept that one kind of UPDATE, and only while the disposal
-- transaction has set `loanfloor.disposal = 'on'` (SET LOCAL, so it ends with the transaction); DELETE and
-- TRUNCATE stay refused. The audit log keeps every entry, its id (the sequence) and every column but the two
-- snapshots, which the trigger checks; a scrubbed entry carries `scrubbed_at`.

CREATE TABLE retention_rules (
    kind        text PRIMARY KEY CHECK (kind IN ('lead', 'application', 'servicing')),
    months      integer NOT NULL CHECK (months BETWEEN 1 AND 1200),
    min_months  integer NOT NULL,
    max_months  integer NOT NULL,
    basis       text NOT NULL,
    source      text NOT NULL,
    version     integer NOT NULL DEFAULT 1,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    updated_by  uuid REFERENCES users(id) ON DELETE RESTRICT,
    CHECK (months BETWEEN min_months AND max_months)
);

INSERT INTO retention_rules (kind, months, min_months, max_months, basis, source) VALUES
    ('lead', 24, 1, 24,
     'Leads that never became an application: after the last activity, call, stage change or edit.',
     'FTC Safeguards Rule, 16 CFR 314.4(c)(6)(i): dispose of customer information no later than two years after the last date it was used to serve the customer.'),
    ('application', 25, 25, 120,
     'Leads that reached the application stage (funded, lost or withdrawn later): after the last action on them.',
     'Regulation B, 12 CFR 1002.12(b)(1): keep application records for 25 months after notifying the applicant of action taken.'),
    ('servicing', 12, 12, 120,
     'Loss-mitigation cases and portfolio loans: after the loan is paid off (a case resolved by payoff, short sale, deed in lieu or foreclosure, or a portfolio loan''s payoff date).',
     'Regulation X, 12 CFR 1024.38(c)(1): keep servicing records until one year after the loan is discharged or servicing is transferred.');

CREATE TABLE legal_holds (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    lead_id         uuid REFERENCES leads(id) ON DELETE RESTRICT,
    case_id         uuid REFERENCES lossmit_cases(id) ON DELETE RESTRICT,
    loan_id         uuid REFERENCES portfolio_loans(id) ON DELETE RESTRICT,
    reason          text NOT NULL CHECK (length(btrim(reason)) BETWEEN 1 AND 500),
    placed_by       uuid NOT NULL REFERENCES users(id) ON DELETE RESTRICT,
    placed_at       timestamptz NOT NULL DEFAULT now(),
    released_by     uuid REFERENCES users(id) ON DELETE RESTRICT,
    released_at     timestamptz,
    release_reason  text,
    CHECK (num_nonnulls(lead_id, case_id, loan_id) = 1),
    CHECK ((released_at IS NULL) = (released_by IS NULL))
);
-- One active hold per record.
CREATE UNIQUE INDEX legal_holds_active_lead ON legal_holds (lead_id) WHERE released_at IS NULL AND lead_id IS NOT NULL;
CREATE UNIQUE INDEX legal_holds_active_case ON legal_holds (case_id) WHERE released_at IS NULL AND case_id IS NOT NULL;
CREATE UNIQUE INDEX legal_holds_active_loan ON legal_holds (loan_id) WHERE released_at IS NULL AND loan_id IS NOT NULL;

ALTER TABLE leads ADD COLUMN disposed_at timestamptz;
ALTER TABLE lossmit_cases ADD COLUMN disposed_at timestamptz;
ALTER TABLE portfolio_loans ADD COLUMN disposed_at timestamptz;
ALTER TABLE audit_log ADD COLUMN scrubbed_at timestamptz;

CREATE FUNCTION disposal_in_progress() RETURNS boolean LANGUAGE sql STABLE AS $$
    SELECT coalesce(current_setting('loanfloor.disposal', true), '') = 'on'
$$;

CREATE OR REPLACE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND disposal_in_progress() AND NEW.scrubbed_at IS NOT NULL
       AND (NEW.id, NEW.created_at, NEW.actor_id, NEW.actor_label, NEW.action, NEW.entity, NEW.entity_id,
            NEW.request_id, NEW.client_addr, NEW.token_id, NEW.token_issued_by)
           IS NOT DISTINCT FROM
           (OLD.id, OLD.created_at, OLD.actor_id, OLD.actor_label, OLD.action, OLD.entity, OLD.entity_id,
            OLD.request_id, OLD.client_addr, OLD.token_id, OLD.token_issued_by) THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'audit_log is append-only' USING ERRCODE = 'insufficient_privilege';
END $$;

CREATE OR REPLACE FUNCTION escalation_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND disposal_in_progress() THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'escalation_events is append-only' USING ERRCODE = 'insufficient_privilege';
END $$;

CREATE OR REPLACE FUNCTION lossmit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND disposal_in_progress() THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION '% is an immutable record', TG_TABLE_NAME USING ERRCODE = 'insufficient_privilege';
END $$;

CREATE OR REPLACE FUNCTION lossmit_letters_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND disposal_in_progress() THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'a filed letter is a record and cannot be changed or removed';
END $$;

-- A JSON document with a disposed person's values removed: the value of every key named in `keys` (at any
-- depth), and every string containing one of `vals` (case-insensitive), become the disposal marker.
CREATE FUNCTION disposal_scrub(doc jsonb, keys text[], vals text[]) RETURNS jsonb LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    out jsonb;
BEGIN
    IF doc IS NULL THEN
        RETURN NULL;
    END IF;
    CASE jsonb_typeof(doc)
    WHEN 'object' THEN
        SELECT coalesce(jsonb_object_agg(k, CASE WHEN k = ANY (keys) AND jsonb_typeof(v) <> 'null'
                                                 THEN '"[disposed]"'::jsonb
                                                 ELSE disposal_scrub(v, keys, vals) END), '{}'::jsonb)
          INTO out FROM jsonb_each(doc) AS e(k, v);
        RETURN out;
    WHEN 'array' THEN
        SELECT coalesce(jsonb_agg(disposal_scrub(v, keys, vals) ORDER BY i), '[]'::jsonb)
          INTO out FROM jsonb_array_elements(doc) WITH ORDINALITY AS a(v, i);
        RETURN out;
    WHEN 'string' THEN
        IF EXISTS (SELECT 1 FROM unnest(vals) x WHERE length(x) >= 3 AND strpos(lower(doc #>> '{}'), lower(x)) > 0) THEN
            RETURN '"[disposed]"'::jsonb;
        END IF;
        RETURN doc;
    ELSE
        RETURN doc;
    END CASE;
END $$;
