-- Domain events reach their consumers through the job queue (issue 16): a lead event's outbox row is
-- dispatched by an `events.dispatch` job (claimed with FOR UPDATE SKIP LOCKED by any instance); the consumers'
-- writes and `dispatched_at` commit together, so a retried job or a second instance never dispatches an event
-- twice; a kind no consumer wants is dispatched as it is written. Events written before this migration were
-- dispatched inside their own transaction.
ALTER TABLE domain_events ADD COLUMN dispatched_at timestamptz;
UPDATE domain_events SET dispatched_at = created_at;
CREATE INDEX domain_events_pending ON domain_events (id) WHERE dispatched_at IS NULL;
