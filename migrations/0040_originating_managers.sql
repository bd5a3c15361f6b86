-- Managers who also originate (issue 17): a manager may take leads like an LO — a place in routing rotations
-- with a capacity, licensed states and an availability status (their lo_profiles row). `originator` is the one
-- definition of "takes leads" every query uses. Their own leads carry no team (a manager is nobody's member),
-- so their production shows on their own numbers and never inside the team figures they manage.
ALTER TABLE users ADD COLUMN originates boolean NOT NULL DEFAULT false;
ALTER TABLE users ADD CONSTRAINT users_originates_check CHECK (NOT originates OR role = 'manager');
ALTER TABLE users ADD COLUMN originator boolean GENERATED ALWAYS AS (role = 'lo' OR originates) STORED;
