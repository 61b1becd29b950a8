-- Console users, their signed-in browsers, failed logins and the audit of
-- what they did (package accounts). The two dialects differ only in the
-- audit log's id, a counter the log is paged and ordered by.
--
-- A session's id is the SHA-256 of its cookie token, never the token, so
-- a copy of the database signs no one in. login_failures is the
-- throttle's memory, shared by every gateway on the database: rows are
-- read by email or client address over the last minutes and purged by age.
-- The audit log is browsed newest first within a merchant, an object or
-- an actor, hence an index ending in id for each.
CREATE TABLE users (
	id            TEXT PRIMARY KEY,
	email         TEXT NOT NULL UNIQUE,
	name          TEXT NOT NULL,
	role          TEXT NOT NULL,
	merchant_id   TEXT REFERENCES merchants (id),
	password_hash TEXT NOT NULL,
	disabled      INTEGER NOT NULL DEFAULT 0,
	created_at    BIGINT NOT NULL,
	updated_at    BIGINT NOT NULL
);
CREATE TABLE sessions (
	id         TEXT PRIMARY KEY,
	user_id    TEXT NOT NULL REFERENCES users (id),
	csrf       TEXT NOT NULL,
	created_at BIGINT NOT NULL,
	last_seen  BIGINT NOT NULL,
	expires_at BIGINT NOT NULL,
	ip         TEXT NOT NULL,
	user_agent TEXT NOT NULL
);
CREATE INDEX sessions_user ON sessions (user_id);
CREATE TABLE login_failures (
	email TEXT NOT NULL,
	ip    TEXT NOT NULL,
	at    BIGINT NOT NULL
);
CREATE INDEX login_failures_email ON login_failures (email, at);
CREATE INDEX login_failures_ip ON login_failures (ip, at);
CREATE INDEX login_failures_at ON login_failures (at);
CREATE TABLE audit_log (
	id          BIGSERIAL PRIMARY KEY,
	at          BIGINT NOT NULL,
	actor_id    TEXT NOT NULL,
	actor_email TEXT NOT NULL,
	action      TEXT NOT NULL,
	object      TEXT NOT NULL,
	merchant_id TEXT NOT NULL,
	before_data TEXT NOT NULL,
	after_data  TEXT NOT NULL,
	ip          TEXT NOT NULL
);
CREATE INDEX audit_log_merchant ON audit_log (merchant_id, id);
CREATE INDEX audit_log_object ON audit_log (object, id);
CREATE INDEX audit_log_actor ON audit_log (actor_id, id)
