-- A team's contact-rate target (issue 17): the share of assigned leads its LOs should reach. The capacity and
-- hiring view measures each LO's monthly load against it and works out how many LOs the lead flow needs.
ALTER TABLE teams ADD COLUMN contact_rate_target_pct int NOT NULL DEFAULT 80
    CHECK (contact_rate_target_pct BETWEEN 1 AND 100);
