-- Multi-factor sign-in for every person in a real organisation (FTC Safeguards Rule, 16 CFR 314.4(c)(5)).
-- `organisation_kind` tells the demo organisation (created by the program on an empty database, which may run
-- without a second factor and says so on every page) from a real one. A real organisation requires TOTP for
-- every role by default; its admins can still narrow the list on the security settings page (audited).
INSERT INTO settings (key, value) VALUES ('organisation_kind', '"real"') ON CONFLICT (key) DO NOTHING;

-- Databases created before this migration: the demo organisation is recognised by its administrator.
UPDATE settings SET value = '"demo"'
WHERE key = 'organisation_kind'
  AND EXISTS (SELECT 1 FROM users WHERE email = 'admin@demo.loanfloor.test');

UPDATE settings SET value = '"all"'
WHERE key = 'mfa_required_roles' AND value = '[]'::jsonb
  AND (SELECT value FROM settings WHERE key = 'organisation_kind') = '"real"'::jsonb;
