-- Wallet orders keep as columns what the cashier's funnel and reconciliation
-- count them by: channel, method, last change. Orders stored before orders
-- carried their own facts (data '{}') take their payment's.
ALTER TABLE payment_attempts ADD COLUMN channel TEXT NOT NULL DEFAULT '';
ALTER TABLE payment_attempts ADD COLUMN method TEXT NOT NULL DEFAULT '';
ALTER TABLE payment_attempts ADD COLUMN updated_at BIGINT NOT NULL DEFAULT 0;
UPDATE payment_attempts SET
	channel = COALESCE(NULLIF(json_extract(data, '$.channel'), ''), (SELECT p.channel FROM payments p WHERE p.id = payment_attempts.payment_id), ''),
	method = COALESCE(NULLIF(json_extract(data, '$.method'), ''), (SELECT p.method FROM payments p WHERE p.id = payment_attempts.payment_id), ''),
	updated_at = COALESCE(CAST(ROUND(unixepoch(json_extract(data, '$.updated'), 'subsec') * 1000) AS INTEGER) * 1000, created_at);
