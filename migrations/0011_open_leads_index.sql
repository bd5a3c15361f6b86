-- Routing counts each candidate LO's open leads on every decision, and the availability board does the same.
-- Most leads of a mature book are closed (funded, lost, nurture), so a partial index over the rest keeps that
-- count proportional to open work instead of to an LO's whole history (4 s per routed lead at 1M leads).
CREATE INDEX leads_open_by_lo_idx ON leads (assigned_lo_id) WHERE stage NOT IN ('funded', 'lost', 'nurture');
