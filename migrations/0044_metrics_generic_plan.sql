-- A lead's contribution to the rollups (metrics_recompute_lead, run at the commit of every transaction that
-- changes a lead) reads the metrics_contributions view for one lead. Planned afresh for each call, as
-- PostgreSQL does while a custom plan looks cheaper, the view's ~140-node plan took 4 ms to plan and 1 ms to
-- run, twice per new lead (created, then routed): most of the database's time per lead at intake. Its
-- generic plan (lead_id as a parameter, every branch an index lookup) runs in about 0.6 ms and is planned
-- once per connection.
ALTER FUNCTION metrics_recompute_lead(uuid) SET plan_cache_mode = force_generic_plan;
