-- A marketing role (issue 17): organisation-wide funnels and ROI by source and campaign, and spend entry,
-- without borrowers' contact details.
ALTER TABLE users DROP CONSTRAINT users_role_check;
ALTER TABLE users ADD CONSTRAINT users_role_check
    CHECK (role IN ('admin', 'manager', 'lo', 'lossmit', 'lossmit_supervisor', 'intake', 'marketing'));
