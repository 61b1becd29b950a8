-- Payments and refunds keep as columns everything reports filter, join or
-- sum on; data keeps the whole object, which is what the gateway reads
-- back. Existing rows are filled from their data.
ALTER TABLE payments
	ADD COLUMN channel TEXT NOT NULL DEFAULT '',
	ADD COLUMN paid_method TEXT NOT NULL DEFAULT '',
	ADD COLUMN buyer_id TEXT NOT NULL DEFAULT '',
	ADD COLUMN region_code TEXT NOT NULL DEFAULT '',
	ADD COLUMN platform TEXT NOT NULL DEFAULT '',
	ADD COLUMN payer_wallet TEXT NOT NULL DEFAULT '',
	ADD COLUMN share_code TEXT NOT NULL DEFAULT '',
	ADD COLUMN paid_at BIGINT NOT NULL DEFAULT 0,
	ADD COLUMN released_at BIGINT NOT NULL DEFAULT 0;
UPDATE payments SET
	channel = COALESCE(data::jsonb->>'channel', ''),
	paid_method = COALESCE(data::jsonb->>'paid_method', ''),
	buyer_id = COALESCE(data::jsonb->'buyer'->>'id', ''),
	region_code = COALESCE(data::jsonb->'buyer'->>'region_code', ''),
	platform = COALESCE(data::jsonb->'buyer'->>'platform', ''),
	payer_wallet = COALESCE(data::jsonb->'payer'->>'wallet_payer', ''),
	share_code = COALESCE(data::jsonb->>'share_code', ''),
	paid_at = COALESCE((EXTRACT(EPOCH FROM (data::jsonb->>'paid_at')::timestamptz) * 1000000)::bigint, 0),
	released_at = COALESCE((EXTRACT(EPOCH FROM (data::jsonb->>'released_at')::timestamptz) * 1000000)::bigint, 0);
CREATE INDEX payments_paid ON payments (paid_at, channel);
CREATE INDEX payments_buyer ON payments (buyer_id, paid_at);
ALTER TABLE refunds
	ADD COLUMN kind TEXT NOT NULL DEFAULT '',
	ADD COLUMN updated_at BIGINT NOT NULL DEFAULT 0,
	ADD COLUMN succeeded_at BIGINT NOT NULL DEFAULT 0;
UPDATE refunds SET
	kind = COALESCE(data::jsonb->>'kind', ''),
	updated_at = COALESCE((EXTRACT(EPOCH FROM (data::jsonb->>'updated')::timestamptz) * 1000000)::bigint, created_at),
	succeeded_at = COALESCE((EXTRACT(EPOCH FROM (data::jsonb->>'succeeded_at')::timestamptz) * 1000000)::bigint, 0);
CREATE INDEX refunds_succeeded ON refunds (succeeded_at);
