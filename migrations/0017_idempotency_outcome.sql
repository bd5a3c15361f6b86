-- An Idempotency-Key belongs to the caller that sent it, and so does what it answered. A key that created a
-- lead replays that lead; a key whose request matched somebody else's lead (a duplicate) replays only
-- "duplicate", never the other lead. Keys stored before this migration are classified from the facts: the
-- key created its lead when the lead's first stage row names the key's user as the actor.
ALTER TABLE idempotency_keys
    ADD COLUMN outcome text NOT NULL DEFAULT 'created' CHECK (outcome IN ('created', 'duplicate'));

UPDATE idempotency_keys k SET outcome = 'duplicate'
WHERE NOT EXISTS (SELECT 1 FROM stage_changes sc
                  WHERE sc.lead_id = k.lead_id AND sc.from_stage IS NULL AND sc.actor_id = k.user_id);
