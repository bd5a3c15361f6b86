-- Issue 24: a staff email (the copy of a bell notification) keeps the page it links to, as the notification does,
-- so disposal finds the copies that name a borrower by the record's link instead of searching every text.
ALTER TABLE messages ADD COLUMN link text NOT NULL DEFAULT '';
UPDATE messages SET link = substring(body FROM 'Open it: \{\{public_url\}\}(\S+)')
 WHERE audience = 'staff' AND body ~ 'Open it: \{\{public_url\}\}\S+';

-- Whether a stored payload (a webhook delivery, a domain event, a job) names one of `ids` as its lead, case,
-- loan or escalation: how disposal finds the copies of a record.
CREATE FUNCTION payload_names(payload jsonb, ids text[]) RETURNS boolean LANGUAGE sql IMMUTABLE AS $$
    SELECT coalesce(payload->>'lead_id' = ANY (ids) OR payload->>'case_id' = ANY (ids)
                    OR payload->>'loan_id' = ANY (ids) OR payload->>'escalation_id' = ANY (ids), false)
$$;
