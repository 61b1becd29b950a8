-- Wallet orders keep as columns what the cashier's funnel and reconciliation
-- count them by: channel, method, last change. Orders stored before orders
-- carried their own facts (data '{}') take their payment's.
ALTER TABLE payment_attempts
	ADD COLUMN channel TEXT NOT NULL DEFAULT '',
	ADD COLUMN method TEXT NOT NULL DEFAULT '',
	ADD COLUMN updated_at BIGINT NOT NULL DEFAULT 0;
UPDATE payment_attempts a SET
	channel = COALESCE(NULLIF(a.data::jsonb->>'channel', ''), p.channel, ''),
	method = COALESCE(NULLIF(a.data::jsonb->>'method', ''), p.method, ''),
	updated_at = COALESCE((EXTRACT(EPOCH FROM (a.data::jsonb->>'updated')::timestamptz) * 1000000)::bigint, a.created_at)
	FROM payments p WHERE p.id = a.payment_id;
