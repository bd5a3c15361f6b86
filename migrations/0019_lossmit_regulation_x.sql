-- Regulation X to the letter (issue 18).
--
-- 1. The facts view counts a record only when it is dated on or after the event that starts its clock: live
--    contacts and early-intervention notices from the day the delinquency began (the first unpaid due date,
--    12 CFR 1024.31), an acknowledgment from the day the application was received, the complete-application
--    notice from the day it became complete. A specialist assigned before the delinquency began (and, since a
--    case is never unassigned again, still assigned) counts as assigned on its first day.
-- 2. The notice that the application is complete (1024.41(c)(3)) is a notice kind of its own.
-- 3. The organisation setting that decides whether a Friday or Monday observed in lieu of a legal public
--    holiday falling on a weekend is a business day; `true` (it is) gives the earlier deadline and is the
--    default.
-- 4. Every live contact and every early-intervention notice since the delinquency began, for the duties that
--    repeat after each later due date (1024.39(a), (b)).

ALTER TABLE lossmit_notices DROP CONSTRAINT lossmit_notices_kind_check;
ALTER TABLE lossmit_notices ADD CONSTRAINT lossmit_notices_kind_check
    CHECK (kind IN ('early_intervention', 'acknowledgment', 'complete_application', 'decision', 'appeal_decision', 'other'));

INSERT INTO settings (key, value) VALUES ('lossmit.observed_holidays_are_business_days', 'true')
    ON CONFLICT (key) DO NOTHING;

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
               AND n.sent_on >= c.first_unpaid_due_date ORDER BY 1) AS early_notices
FROM lossmit_cases c
LEFT JOIN LATERAL (SELECT received_on, complete_on FROM lossmit_applications a WHERE a.case_id = c.id ORDER BY a.id DESC LIMIT 1) app ON true
LEFT JOIN LATERAL (SELECT decided_on, approved FROM lossmit_decisions d WHERE d.case_id = c.id
                     AND app.complete_on IS NOT NULL AND d.decided_on >= app.complete_on
                   ORDER BY d.decided_on, d.id LIMIT 1) dec ON true
LEFT JOIN LATERAL (SELECT id, filed_on FROM lossmit_appeals p WHERE p.case_id = c.id
                     AND dec.decided_on IS NOT NULL AND p.filed_on >= dec.decided_on
                   ORDER BY p.filed_on, p.id LIMIT 1) ap ON true
LEFT JOIN lossmit_appeal_decisions ad ON ad.appeal_id = ap.id;
