-- Accounts: the last accepted TOTP time step per user, so a one-time code cannot be used twice (RFC 6238 §5.2).
ALTER TABLE users ADD COLUMN mfa_last_step bigint;
