-- A pending wallet order's next status query and an unpaid payment's
-- expiry are due times on their own rows, found by one indexed query
-- (AttemptsDue, PaymentsDue) that a worker runs every poll; a job row is
-- stored only once one is due. A payment paid before its first query (the
-- common case) then costs no job rows at all, where it cost a poll and an
-- expiry job inserted and deleted again.
--
-- Orders and payments stored before keep the jobs already queued for
-- them; their poll_at stays 0. A payment's expires_at leaves data for its
-- column, read to the microsecond as migration 13 reads times.
ALTER TABLE payment_attempts ADD COLUMN poll_at BIGINT NOT NULL DEFAULT 0;
ALTER TABLE payment_attempts ADD COLUMN poll_step INTEGER NOT NULL DEFAULT 0;
CREATE INDEX payment_attempts_poll_due ON payment_attempts (poll_at) WHERE status = 'pending' AND poll_at > 0;
ALTER TABLE payments ADD COLUMN expires_at BIGINT NOT NULL DEFAULT 0;
UPDATE payments SET
	expires_at = CASE
		WHEN jsonb_typeof(data::jsonb->'expires_at') IS DISTINCT FROM 'string' THEN expires_at
		WHEN data::jsonb->>'expires_at' LIKE '0001-01-01T00:00:00%' THEN 0
		ELSE (EXTRACT(EPOCH FROM regexp_replace(data::jsonb->>'expires_at', '(\.\d{6})\d+', '\1')::timestamptz) * 1000000)::bigint
	END;
UPDATE payments SET data = (data::jsonb - 'expires_at')::text;
CREATE INDEX payments_expiry_due ON payments (expires_at) WHERE status = 'requires_action' AND expires_at > 0;
