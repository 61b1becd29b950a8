-- An Idempotency-Key is held by one run of its request (owner) until
-- lease_until; a retry after that takes it over, and the first run's
-- change then cannot commit (its answer is written with the change, and
-- only by the key's owner).
ALTER TABLE idempotency_keys ADD COLUMN owner TEXT NOT NULL DEFAULT '';
ALTER TABLE idempotency_keys ADD COLUMN lease_until BIGINT NOT NULL DEFAULT 0;
