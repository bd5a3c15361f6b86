-- Complaint clocks (issue 26): a complaint carries a legal clock depending on what it is. When a complaint is
-- forwarded the person records its type and the day it was received; the deadlines are computed from these facts
-- (departments::complaint_clock) on the organisation's business-day calendar, beside the department's SLA.
--
--   notice_of_error      12 CFR 1024.35: acknowledge in 5 business days (d); answer in 7 for a payoff statement
--                        (e)(3)(i)(A), before the foreclosure sale or in 30 for (b)(9)/(b)(10) (e)(3)(i)(B), else 30
--                        (e)(3)(i)(C), extendable once by 15 when noticed in time (e)(3)(ii)
--   information_request  12 CFR 1024.36: acknowledge in 5 (c); answer in 10 for the owner or assignee (d)(2)(i)(A),
--                        else 30 (d)(2)(i)(B), extendable once by 15 (d)(2)(ii)
--   cfpb_portal          the CFPB's company portal: a response in 15 calendar days, the final one in 60
--   state_regulator      the due date the regulator's letter states
--   informal             no regulatory clock: the department's SLA only
-- The clock and its events are facts: the database refuses to change or delete them.

CREATE TABLE complaint_clocks (
    escalation_id       uuid PRIMARY KEY REFERENCES escalations (id) ON DELETE RESTRICT,
    complaint_type      text NOT NULL CHECK (complaint_type IN
                            ('notice_of_error', 'information_request', 'cfpb_portal', 'state_regulator', 'informal')),
    -- Which response clock of 1024.35(e)(3)(i) / 1024.36(d)(2)(i) applies.
    category            text NOT NULL DEFAULT 'general'
                            CHECK (category IN ('general', 'payoff_statement', 'foreclosure', 'owner_identity')),
    received_on         date NOT NULL,
    foreclosure_sale_on date,
    regulator_due_on    date,
    recorded_by         uuid NOT NULL REFERENCES users (id) ON DELETE RESTRICT,
    recorded_at         timestamptz NOT NULL,
    created_at          timestamptz NOT NULL DEFAULT now(),
    CHECK (category = 'general'
           OR (complaint_type = 'notice_of_error' AND category IN ('payoff_statement', 'foreclosure'))
           OR (complaint_type = 'information_request' AND category = 'owner_identity')),
    CHECK ((complaint_type = 'state_regulator') = (regulator_due_on IS NOT NULL)),
    CHECK (foreclosure_sale_on IS NULL OR category = 'foreclosure')
);

-- What was done on the clock (acknowledged, responded, extension noticed, final response), and each breach told.
CREATE TABLE complaint_clock_events (
    id            bigserial PRIMARY KEY,
    escalation_id uuid NOT NULL REFERENCES complaint_clocks (escalation_id) ON DELETE RESTRICT,
    step          text NOT NULL CHECK (step IN
                      ('acknowledged', 'responded', 'extension_noticed', 'final_response', 'breach_notified')),
    -- The day it was done (as the person states it); for breach_notified, the day that passed.
    on_date       date NOT NULL,
    -- For breach_notified: which deadline (acknowledgment, response, final_response).
    deadline      text NOT NULL DEFAULT '',
    note          text NOT NULL DEFAULT '',
    actor_id      uuid REFERENCES users (id) ON DELETE RESTRICT,
    at            timestamptz NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    CHECK ((step = 'breach_notified') = (deadline <> '')),
    CHECK (actor_id IS NOT NULL OR step = 'breach_notified')
);
-- Each step once (a second is a stale edit), each breach told once.
CREATE UNIQUE INDEX complaint_clock_events_once ON complaint_clock_events (escalation_id, step, deadline);

CREATE FUNCTION complaint_clocks_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only', TG_TABLE_NAME USING ERRCODE = 'insufficient_privilege';
END $$;
CREATE TRIGGER complaint_clocks_no_update BEFORE UPDATE OR DELETE ON complaint_clocks
    FOR EACH ROW EXECUTE FUNCTION complaint_clocks_append_only();
CREATE TRIGGER complaint_clocks_no_truncate BEFORE TRUNCATE ON complaint_clocks
    FOR EACH STATEMENT EXECUTE FUNCTION complaint_clocks_append_only();
CREATE TRIGGER complaint_clock_events_no_update BEFORE UPDATE OR DELETE ON complaint_clock_events
    FOR EACH ROW EXECUTE FUNCTION complaint_clocks_append_only();
CREATE TRIGGER complaint_clock_events_no_truncate BEFORE TRUNCATE ON complaint_clock_events
    FOR EACH STATEMENT EXECUTE FUNCTION complaint_clocks_append_only();

-- The earliest regulatory deadline still due, as the end of its day: queues order by the earlier of this and the
-- SLA (`due_at`). Kept by the service in the transaction that records the clock or a step.
ALTER TABLE department_items ADD COLUMN regulatory_due_at timestamptz;
CREATE INDEX department_items_regulatory_idx ON department_items (department_id, LEAST(due_at, regulatory_due_at))
    WHERE status = 'open';
