-- API tokens are for integrations, not a way around sign-in (FTC Safeguards Rule 314.4(c)(1), OWASP ASVS 3.5):
-- each carries scopes (`leads:write` for lead vendors, `read`, `full`, `metrics`), an expiry and the person who
-- issued it. Tokens that existed before keep full access for a year from now; their issuer is unknown.
ALTER TABLE api_tokens
    ADD COLUMN scopes text[] NOT NULL DEFAULT '{full}',
    ADD COLUMN expires_at timestamptz,
    ADD COLUMN issued_by uuid REFERENCES users (id) ON DELETE RESTRICT;
UPDATE api_tokens SET expires_at = now() + interval '1 year';
ALTER TABLE api_tokens
    ALTER COLUMN expires_at SET NOT NULL,
    ALTER COLUMN scopes DROP DEFAULT,
    ADD CONSTRAINT api_tokens_scopes_known
        CHECK (cardinality(scopes) > 0 AND scopes <@ ARRAY['leads:write', 'read', 'full', 'metrics']::text[]);

-- Reactivating a person does not bring back the tokens they had: deactivation revokes them (from now on in the
-- application; here for people already inactive).
UPDATE api_tokens k SET revoked_at = now()
FROM users u WHERE u.id = k.user_id AND NOT u.active AND k.revoked_at IS NULL;

-- Every action taken with a token is audited with the token and who issued it.
ALTER TABLE audit_log ADD COLUMN token_id uuid, ADD COLUMN token_issued_by uuid;
