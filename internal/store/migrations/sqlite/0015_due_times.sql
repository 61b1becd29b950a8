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
		WHEN json_type(data, '$.expires_at') IS NOT 'text' THEN expires_at
		WHEN json_extract(data, '$.expires_at') LIKE '0001-01-01T00:00:00%' THEN 0
		ELSE unixepoch(json_extract(data, '$.expires_at')) * 1000000
			+ CAST(substr(substr(CAST('1' || substr(json_extract(data, '$.expires_at'), 21, 6 * (substr(json_extract(data, '$.expires_at'), 20, 1) = '.')) AS INTEGER), 2) || '000000', 1, 6) AS INTEGER)
	END;
UPDATE payments SET data = json_remove(data, '$.expires_at');
CREATE INDEX payments_expiry_due ON payments (expires_at) WHERE status = 'requires_action' AND expires_at > 0;
