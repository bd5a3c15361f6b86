-- Regulation X, issue 18 items 4, 5 and 9.
--
-- Several applications (12 CFR 1024.41(i)). Each application has a number on its case; its rows are the
-- versions of it as known over time (the latest row is current). A borrower brought current ends the
-- delinquency: applications received before that belong to the earlier delinquency. Within one delinquency the
-- protections come from the first application that became complete; a later complete one is duplicative (the
-- servicer need not evaluate it), and a later incomplete one never displaces it.
ALTER TABLE lossmit_applications ADD COLUMN application_no int;
UPDATE lossmit_applications a SET application_no = r.n
  FROM (SELECT id, dense_rank() OVER (PARTITION BY case_id ORDER BY received_on) AS n FROM lossmit_applications) r
 WHERE r.id = a.id;
ALTER TABLE lossmit_applications ALTER COLUMN application_no SET NOT NULL;
CREATE INDEX lossmit_applications_number_idx ON lossmit_applications (case_id, application_no, id DESC);

CREATE TABLE lossmit_reinstatements (
    id          bigserial PRIMARY KEY,
    case_id     uuid NOT NULL REFERENCES lossmit_cases (id) ON DELETE RESTRICT,
    current_on  date NOT NULL,
    note        text NOT NULL DEFAULT '',
    actor_id    uuid REFERENCES users (id) ON DELETE RESTRICT,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX lossmit_reinstatements_case_idx ON lossmit_reinstatements (case_id, current_on);

-- Decisions per option (1024.41(c)(1), (d)): an evaluation decides every option at once, with the investor's
-- own programs by name; each decision belongs to the application it evaluated.
ALTER TABLE lossmit_decisions DROP CONSTRAINT lossmit_decisions_option_check;
ALTER TABLE lossmit_decisions ADD CONSTRAINT lossmit_decisions_option_check
    CHECK (option IN ('repayment_plan', 'forbearance', 'modification', 'short_sale', 'deed_in_lieu', 'investor_program'));
ALTER TABLE lossmit_decisions ADD COLUMN program text NOT NULL DEFAULT '';
ALTER TABLE lossmit_decisions ADD COLUMN evaluation_id uuid;
ALTER TABLE lossmit_decisions ADD COLUMN application_no int;
UPDATE lossmit_decisions d SET application_no = COALESCE(
    (SELECT a.application_no FROM lossmit_applications a WHERE a.case_id = d.case_id AND a.received_on <= d.decided_on
      ORDER BY a.received_on DESC, a.id DESC LIMIT 1), 1);
ALTER TABLE lossmit_decisions ALTER COLUMN application_no SET NOT NULL;

-- Letters (item 9): what was sent, as rendered, filed on the case and never changed afterwards.
CREATE TABLE lossmit_letters (
    id          bigserial PRIMARY KEY,
    case_id     uuid NOT NULL REFERENCES lossmit_cases (id) ON DELETE RESTRICT,
    kind        text NOT NULL CHECK (kind IN ('early_intervention', 'complete_application', 'decision', 'acknowledgment')),
    sent_on     date NOT NULL,
    html        text NOT NULL,
    sha256      text NOT NULL,
    actor_id    uuid REFERENCES users (id) ON DELETE RESTRICT,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX lossmit_letters_case_idx ON lossmit_letters (case_id, id);
CREATE FUNCTION lossmit_letters_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'a filed letter is a record and cannot be changed or removed';
END $$;
CREATE TRIGGER lossmit_letters_immutable BEFORE UPDATE OR DELETE ON lossmit_letters
    FOR EACH ROW EXECUTE FUNCTION lossmit_letters_immutable();

-- The facts view: the protecting application (see above), the first evaluation of it, whether any option was
-- approved and whether a loan modification was denied (only that denial can be appealed, 1024.41(h)).
CREATE OR REPLACE VIEW lossmit_case_facts AS
SELECT c.id AS case_id,
       (SELECT min(occurred_on) FROM lossmit_contact_attempts x WHERE x.case_id = c.id AND x.live_contact
          AND x.occurred_on >= c.first_unpaid_due_date) AS first_live_contact_on,
       (SELECT min(sent_on) FROM lossmit_notices n WHERE n.case_id = c.id AND n.kind = 'early_intervention'
          AND n.sent_on >= c.first_unpaid_due_date) AS written_notice_on,
       (SELECT CASE WHEN min(a.assigned_on) IS NULL THEN NULL ELSE GREATEST(min(a.assigned_on), c.first_unpaid_due_date) END
          FROM lossmit_assignments a WHERE a.case_id = c.id) AS specialist_assigned_on,
       app.received_on AS app_received_on,
       app.complete_on AS app_complete_on,
       (SELECT min(sent_on) FROM lossmit_notices n WHERE n.case_id = c.id AND n.kind = 'acknowledgment'
          AND n.sent_on >= app.received_on) AS acknowledged_on,
       dec.decided_on AS decided_on,
       dec.approved AS decision_approved,
       ap.filed_on AS appeal_filed_on,
       ad.decided_on AS appeal_decided_on,
       ad.granted AS appeal_granted,
       (SELECT min(occurred_on) FROM lossmit_foreclosure_steps s WHERE s.case_id = c.id AND s.step = 'first_filing') AS first_filing_on,
       (SELECT min(sent_on) FROM lossmit_notices n WHERE n.case_id = c.id AND n.kind = 'complete_application'
          AND n.sent_on >= app.complete_on) AS complete_notice_on,
       ARRAY(SELECT DISTINCT x.occurred_on FROM lossmit_contact_attempts x WHERE x.case_id = c.id AND x.live_contact
               AND x.occurred_on >= c.first_unpaid_due_date ORDER BY 1) AS live_contacts,
       ARRAY(SELECT DISTINCT n.sent_on FROM lossmit_notices n WHERE n.case_id = c.id AND n.kind = 'early_intervention'
               AND n.sent_on >= c.first_unpaid_due_date ORDER BY 1) AS early_notices,
       app.application_no AS app_no,
       dec.modification_denied AS modification_denied,
       (SELECT max(r.current_on) FROM lossmit_reinstatements r WHERE r.case_id = c.id) AS brought_current_on
FROM lossmit_cases c
LEFT JOIN LATERAL (
    SELECT v.application_no, v.received_on, v.complete_on
      FROM (SELECT DISTINCT ON (a.application_no) a.application_no, a.received_on, a.complete_on
              FROM lossmit_applications a WHERE a.case_id = c.id ORDER BY a.application_no, a.id DESC) v
     WHERE v.received_on > COALESCE((SELECT max(r.current_on) FROM lossmit_reinstatements r WHERE r.case_id = c.id),
                                    '-infinity'::date)
     ORDER BY (v.complete_on IS NULL), v.complete_on, v.received_on DESC, v.application_no
     LIMIT 1) app ON true
LEFT JOIN LATERAL (
    SELECT min(d.decided_on) AS decided_on,
           bool_or(d.approved) AS approved,
           bool_or(d.option = 'modification' AND NOT d.approved) AS modification_denied
      FROM lossmit_decisions d
     WHERE d.case_id = c.id AND app.complete_on IS NOT NULL AND d.application_no = app.application_no
       AND d.decided_on >= app.complete_on
       AND d.decided_on = (SELECT min(d2.decided_on) FROM lossmit_decisions d2
                            WHERE d2.case_id = c.id AND d2.application_no = app.application_no
                              AND d2.decided_on >= app.complete_on)
    HAVING count(*) > 0) dec ON true
LEFT JOIN LATERAL (SELECT id, filed_on FROM lossmit_appeals p WHERE p.case_id = c.id
                     AND dec.decided_on IS NOT NULL AND p.filed_on >= dec.decided_on
                   ORDER BY p.filed_on, p.id LIMIT 1) ap ON true
LEFT JOIN lossmit_appeal_decisions ad ON ad.appeal_id = ap.id;
