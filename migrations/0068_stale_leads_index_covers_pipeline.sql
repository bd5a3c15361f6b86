-- Issue 22: the dashboard's stale-leads count (`metrics::store::stale_leads`) matches a lead's stage by key and
-- pipeline; the pipeline was read from the heap for every candidate (977 heap pages for a manager's 1,000 capped
-- stale leads at the 1M-lead bench seed, 2.5 ms). With the pipeline in the indexes the count is an index-only
-- scan (0.7 ms). Same keys as before, so every other reader of these indexes plans as it did.
CREATE INDEX leads_team_stage_changed_cover_idx ON leads (team_id, stage, stage_changed_at) INCLUDE (pipeline_id);
DROP INDEX leads_team_stage_changed_idx;
ALTER INDEX leads_team_stage_changed_cover_idx RENAME TO leads_team_stage_changed_idx;
CREATE INDEX leads_stage_changed_cover_idx ON leads (stage, stage_changed_at) INCLUDE (pipeline_id);
DROP INDEX leads_stage_changed_idx;
ALTER INDEX leads_stage_changed_cover_idx RENAME TO leads_stage_changed_idx;
