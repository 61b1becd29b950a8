-- Payments and refunds keep as columns everything reports filter, join or
-- sum on; data keeps the whole object, which is what the gateway reads
-- back. Existing rows are filled from their data (times to the
-- millisecond: SQLite's unixepoch reads no finer).
ALTER TABLE payments ADD COLUMN channel TEXT NOT NULL DEFAULT '';
ALTER TABLE payments ADD COLUMN paid_method TEXT NOT NULL DEFAULT '';
ALTER TABLE payments ADD COLUMN buyer_id TEXT NOT NULL DEFAULT '';
ALTER TABLE payments ADD COLUMN region_code TEXT NOT NULL DEFAULT '';
ALTER TABLE payments ADD COLUMN platform TEXT NOT NULL DEFAULT '';
ALTER TABLE payments ADD COLUMN payer_wallet TEXT NOT NULL DEFAULT '';
ALTER TABLE payments ADD COLUMN share_code TEXT NOT NULL DEFAULT '';
ALTER TABLE payments ADD COLUMN paid_at BIGINT NOT NULL DEFAULT 0;
ALTER TABLE payments ADD COLUMN released_at BIGINT NOT NULL DEFAULT 0;
UPDATE payments SET
	channel = COALESCE(json_extract(data, '$.channel'), ''),
	paid_method = COALESCE(json_extract(data, '$.paid_method'), ''),
	buyer_id = COALESCE(json_extract(data, '$.buyer.id'), ''),
	region_code = COALESCE(json_extract(data, '$.buyer.region_code'), ''),
	platform = COALESCE(json_extract(data, '$.buyer.platform'), ''),
	payer_wallet = COALESCE(json_extract(data, '$.payer.wallet_payer'), ''),
	share_code = COALESCE(json_extract(data, '$.share_code'), ''),
	paid_at = COALESCE(CAST(ROUND(unixepoch(json_extract(data, '$.paid_at'), 'subsec') * 1000) AS INTEGER) * 1000, 0),
	released_at = COALESCE(CAST(ROUND(unixepoch(json_extract(data, '$.released_at'), 'subsec') * 1000) AS INTEGER) * 1000, 0);
CREATE INDEX payments_paid ON payments (paid_at, channel);
CREATE INDEX payments_buyer ON payments (buyer_id, paid_at);
ALTER TABLE refunds ADD COLUMN kind TEXT NOT NULL DEFAULT '';
ALTER TABLE refunds ADD COLUMN updated_at BIGINT NOT NULL DEFAULT 0;
ALTER TABLE refunds ADD COLUMN succeeded_at BIGINT NOT NULL DEFAULT 0;
UPDATE refunds SET
	kind = COALESCE(json_extract(data, '$.kind'), ''),
	updated_at = COALESCE(CAST(ROUND(unixepoch(json_extract(data, '$.updated'), 'subsec') * 1000) AS INTEGER) * 1000, created_at),
	succeeded_at = COALESCE(CAST(ROUND(unixepoch(json_extract(data, '$.succeeded_at'), 'subsec') * 1000) AS INTEGER) * 1000, 0);
CREATE INDEX refunds_succeeded ON refunds (succeeded_at);
