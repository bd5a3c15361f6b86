-- Session ids are bearer secrets: the table keeps only their SHA-256 (hex), so a copy of it (a backup, a
-- replica, a dump) opens no session; the cookie alone carries the id. Sessions stored before this migration
-- kept their ids in clear and are ended: everyone signs in once more.
DELETE FROM sessions;
ALTER TABLE sessions RENAME COLUMN id TO id_hash;
ALTER TABLE sessions ADD CONSTRAINT sessions_id_hash_is_sha256 CHECK (id_hash ~ '^[0-9a-f]{64}$');
