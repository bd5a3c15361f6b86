-- Round robin and weighted round robin follow the quota method (Balinski & Young): within a stretch of
-- decisions with the same eligible LOs, each LO's count stays within one lead of its weighted share. The
-- stretch ("era") restarts when an LO joins or returns, so nobody collects catch-up leads.
ALTER TABLE routing_counters
    ADD COLUMN era_assigned bigint NOT NULL DEFAULT 0,
    ADD COLUMN last_assigned_seq bigint NOT NULL DEFAULT -1;

COMMENT ON COLUMN routing_counters.era_assigned IS
    'Leads this LO got in the rotation''s current era (quota method; the era restarts when an LO joins).';
COMMENT ON COLUMN routing_counters.last_assigned_seq IS
    'The decision that last gave this LO a lead (ties go to whoever waited longest).';
