-- Durable background work: a job is inserted in the same transaction as the
-- state change that implies it, claimed with a lease, and finished once.
CREATE TABLE jobs (
	id            BIGSERIAL PRIMARY KEY,
	kind          TEXT    NOT NULL,
	payload       TEXT    NOT NULL,
	unique_key    TEXT,
	state         TEXT    NOT NULL DEFAULT 'available' CHECK (state IN ('available', 'running', 'done', 'dead')),
	run_at        BIGINT  NOT NULL,
	attempts      INTEGER NOT NULL DEFAULT 0,
	max_attempts  INTEGER NOT NULL,
	locked_by     TEXT,
	locked_until  BIGINT,
	last_error    TEXT,
	created_at    BIGINT  NOT NULL,
	finished_at   BIGINT
);
CREATE INDEX jobs_due ON jobs (state, run_at);
CREATE UNIQUE INDEX jobs_unique ON jobs (kind, unique_key) WHERE unique_key IS NOT NULL AND state IN ('available', 'running')
