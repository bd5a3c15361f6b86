-- Stale leads by team (issue 22): the dashboard's tile counts, per open stage, a scope's leads whose stage
-- changed before that stage's stale_after_days; a manager's teams were found by scanning every lead
-- (74 ms at 1M leads). With this index each stage is a range scan per team (7 ms).
CREATE INDEX leads_team_stage_changed_idx ON leads (team_id, stage, stage_changed_at);
