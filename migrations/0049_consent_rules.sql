-- Consent rules that are enforced (issue 19): the do-not-call lists and the hours a borrower may be called.

-- Numbers nobody may call: the lender's own list (any request, any lead) and the national registry's numbers
-- (imported from its download, replaced whole at each import; a lead who gave written consent to calls may
-- still be called, as the Telemarketing Sales Rule allows).
CREATE TABLE do_not_call_numbers (
    phone       text NOT NULL CHECK (phone ~ '^[0-9]{10}$'),
    list        text NOT NULL CHECK (list IN ('internal', 'national')),
    reason      text NOT NULL DEFAULT '',
    added_by    uuid REFERENCES users (id) ON DELETE RESTRICT,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (phone, list)
);

-- When a borrower may be called, by the property's state, in every time zone the state spans (a caller who
-- does not know which part of the state the borrower is in must be inside the window in all of them). A NULL
-- start means no calls that day. The federal rule (47 CFR 64.1200(c)(1)) is 8:00-21:00; the rows below with
-- other hours carry the stricter state telephone-solicitation laws. A maintained table: compliance reviews
-- it yearly; the application reads it at every decision.
CREATE TABLE calling_windows (
    state           text PRIMARY KEY CHECK (state ~ '^[A-Z]{2}$'),
    time_zones      text[] NOT NULL CHECK (cardinality(time_zones) >= 1),
    weekday_from    time NOT NULL,
    weekday_until   time NOT NULL,
    saturday_from   time,
    saturday_until  time,
    sunday_from     time,
    sunday_until    time,
    source          text NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    CHECK (weekday_from < weekday_until),
    CHECK ((saturday_from IS NULL) = (saturday_until IS NULL) AND (sunday_from IS NULL) = (sunday_until IS NULL))
);

INSERT INTO calling_windows (state, time_zones, weekday_from, weekday_until, saturday_from, saturday_until,
                             sunday_from, sunday_until, source)
SELECT s.state, s.zones, '08:00', '21:00', '08:00', '21:00', '08:00', '21:00', 'Federal TCPA (47 CFR 64.1200(c)(1))'
FROM (VALUES
    ('AK', ARRAY['America/Anchorage', 'America/Adak']), ('AL', ARRAY['America/Chicago']),
    ('AR', ARRAY['America/Chicago']), ('AZ', ARRAY['America/Phoenix']), ('CA', ARRAY['America/Los_Angeles']),
    ('CO', ARRAY['America/Denver']), ('CT', ARRAY['America/New_York']), ('DC', ARRAY['America/New_York']),
    ('DE', ARRAY['America/New_York']), ('FL', ARRAY['America/New_York', 'America/Chicago']),
    ('GA', ARRAY['America/New_York']), ('HI', ARRAY['Pacific/Honolulu']), ('IA', ARRAY['America/Chicago']),
    ('ID', ARRAY['America/Boise', 'America/Los_Angeles']), ('IL', ARRAY['America/Chicago']),
    ('IN', ARRAY['America/Indiana/Indianapolis', 'America/Chicago']),
    ('KS', ARRAY['America/Chicago', 'America/Denver']), ('KY', ARRAY['America/New_York', 'America/Chicago']),
    ('LA', ARRAY['America/Chicago']), ('MA', ARRAY['America/New_York']), ('MD', ARRAY['America/New_York']),
    ('ME', ARRAY['America/New_York']), ('MI', ARRAY['America/Detroit', 'America/Menominee']),
    ('MN', ARRAY['America/Chicago']), ('MO', ARRAY['America/Chicago']), ('MS', ARRAY['America/Chicago']),
    ('MT', ARRAY['America/Denver']), ('NC', ARRAY['America/New_York']),
    ('ND', ARRAY['America/Chicago', 'America/Denver']), ('NE', ARRAY['America/Chicago', 'America/Denver']),
    ('NH', ARRAY['America/New_York']), ('NJ', ARRAY['America/New_York']), ('NM', ARRAY['America/Denver']),
    ('NV', ARRAY['America/Los_Angeles']), ('NY', ARRAY['America/New_York']), ('OH', ARRAY['America/New_York']),
    ('OK', ARRAY['America/Chicago']), ('OR', ARRAY['America/Los_Angeles', 'America/Boise']),
    ('PA', ARRAY['America/New_York']), ('PR', ARRAY['America/Puerto_Rico']), ('RI', ARRAY['America/New_York']),
    ('SC', ARRAY['America/New_York']), ('SD', ARRAY['America/Chicago', 'America/Denver']),
    ('TN', ARRAY['America/Chicago', 'America/New_York']), ('TX', ARRAY['America/Chicago', 'America/Denver']),
    ('UT', ARRAY['America/Denver']), ('VA', ARRAY['America/New_York']), ('VT', ARRAY['America/New_York']),
    ('WA', ARRAY['America/Los_Angeles']), ('WI', ARRAY['America/Chicago']), ('WV', ARRAY['America/New_York']),
    ('WY', ARRAY['America/Denver'])
) AS s(state, zones);

-- Stricter state hours (state telephone-solicitation laws as we read them; holidays are not modelled).
-- Compliance confirms each row with counsel; changing a row needs no code change.
UPDATE calling_windows SET weekday_until = '20:00', saturday_until = '20:00', sunday_from = NULL, sunday_until = NULL,
       source = 'Alabama telephone-solicitation law: 8:00-20:00, no Sundays' WHERE state = 'AL';
UPDATE calling_windows SET weekday_from = '09:00', weekday_until = '20:00', saturday_from = '09:00', saturday_until = '20:00',
       sunday_from = '09:00', sunday_until = '20:00', source = 'Connecticut telephone-solicitation law: 9:00-20:00' WHERE state = 'CT';
UPDATE calling_windows SET weekday_until = '20:00', saturday_until = '20:00', sunday_until = '20:00',
       source = 'Florida telephone-solicitation law: 8:00-20:00' WHERE state = 'FL';
UPDATE calling_windows SET weekday_until = '20:00', saturday_until = '20:00', sunday_from = NULL, sunday_until = NULL,
       source = 'Louisiana telephone-solicitation law: 8:00-20:00, no Sundays' WHERE state = 'LA';
UPDATE calling_windows SET weekday_until = '20:00', saturday_until = '20:00', sunday_until = '20:00',
       source = 'Maryland telephone-solicitation law: 8:00-20:00' WHERE state = 'MD';
UPDATE calling_windows SET weekday_until = '20:00', saturday_until = '20:00', sunday_until = '20:00',
       source = 'Massachusetts telephone-solicitation law: 8:00-20:00' WHERE state = 'MA';
UPDATE calling_windows SET weekday_until = '20:00', saturday_until = '20:00', sunday_from = NULL, sunday_until = NULL,
       source = 'Mississippi telephone-solicitation law: 8:00-20:00, no Sundays' WHERE state = 'MS';
UPDATE calling_windows SET weekday_until = '20:00', saturday_until = '20:00', sunday_until = '20:00',
       source = 'Oklahoma telephone-solicitation law: 8:00-20:00' WHERE state = 'OK';
UPDATE calling_windows SET weekday_from = '09:00', weekday_until = '18:00', saturday_from = '10:00', saturday_until = '17:00',
       sunday_from = NULL, sunday_until = NULL,
       source = 'Rhode Island telephone-solicitation law: weekdays 9:00-18:00, Saturdays 10:00-17:00, no Sundays' WHERE state = 'RI';
UPDATE calling_windows SET weekday_from = '09:00', saturday_from = '09:00', sunday_from = '12:00',
       source = 'Texas telephone-solicitation law: 9:00-21:00, Sundays 12:00-21:00' WHERE state = 'TX';
UPDATE calling_windows SET sunday_from = NULL, sunday_until = NULL,
       source = 'Utah telephone-solicitation law: 8:00-21:00, no Sundays' WHERE state = 'UT';
UPDATE calling_windows SET weekday_until = '20:00', saturday_until = '20:00', sunday_until = '20:00',
       source = 'Washington telephone-solicitation law: 8:00-20:00' WHERE state = 'WA';
