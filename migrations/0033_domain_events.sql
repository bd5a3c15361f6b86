-- Domain events (issue 16): when a lead is created, changes stage, is assigned or funds, the transaction that
-- does it also writes one row here (an outbox). In-process subscribers, wired by the composition root, react
-- inside the same transaction; consumers outside the process (exports, a warehouse, later capabilities) read
-- this table in id order, which is commit order per lead.
CREATE TABLE domain_events (
    id          bigserial PRIMARY KEY,
    kind        text NOT NULL CHECK (kind IN ('lead.created', 'lead.stage_changed', 'lead.assigned', 'lead.funded')),
    lead_id     uuid NOT NULL,
    payload     jsonb NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX domain_events_lead ON domain_events (lead_id, id);
