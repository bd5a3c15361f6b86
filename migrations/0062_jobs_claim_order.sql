-- A job worker claims the next due job `ORDER BY run_at, id`. The due index held `run_at` alone, so when many
-- queued jobs share a `run_at` (every staff email is queued at the epoch, "as soon as possible"), each claim
-- read and sorted all of them: 31 ms a claim with a backlog of 50,000 emails after an intake burst, which
-- slowed the worker that clears the backlog. With `id` in the index the claim reads its first entry.
CREATE INDEX jobs_due_order_idx ON jobs (run_at, id) WHERE status = 'queued';
DROP INDEX jobs_due_idx;
