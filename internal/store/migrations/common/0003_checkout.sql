-- Checkout across wallets: a payment's wallet orders (attempts; a payment
-- made with a wallet method has one, with the payment's id), pay-for-me
-- requests, share codes and the gateway's own signing keys.
CREATE TABLE payment_attempts (
	id          TEXT PRIMARY KEY,
	payment_id  TEXT NOT NULL REFERENCES payments (id),
	status      TEXT NOT NULL,
	created_at  BIGINT NOT NULL,
	data        TEXT NOT NULL
);
CREATE INDEX payment_attempts_payment ON payment_attempts (payment_id);
INSERT INTO payment_attempts (id, payment_id, status, created_at, data)
	SELECT id, id, CASE status WHEN 'succeeded' THEN 'succeeded' WHEN 'canceled' THEN 'closed' ELSE 'pending' END, created_at, '{}'
	FROM payments;
CREATE TABLE pay_for_me (
	id          TEXT PRIMARY KEY,
	payment_id  TEXT NOT NULL REFERENCES payments (id),
	merchant_id TEXT NOT NULL,
	status      TEXT NOT NULL,
	expires_at  BIGINT NOT NULL,
	created_at  BIGINT NOT NULL,
	data        TEXT NOT NULL
);
CREATE INDEX pay_for_me_payment ON pay_for_me (payment_id);
CREATE TABLE share_codes (
	id          TEXT PRIMARY KEY,
	token       TEXT NOT NULL UNIQUE,
	merchant_id TEXT NOT NULL,
	target      TEXT NOT NULL,
	target_id   TEXT NOT NULL,
	url         TEXT NOT NULL DEFAULT '',
	title       TEXT NOT NULL DEFAULT '',
	source      TEXT NOT NULL,
	expires_at  BIGINT,
	max_uses    BIGINT,
	resolves    BIGINT NOT NULL DEFAULT 0,
	paid_orders BIGINT NOT NULL DEFAULT 0,
	paid_amount BIGINT NOT NULL DEFAULT 0,
	revoked_at  BIGINT,
	created_at  BIGINT NOT NULL
);
CREATE INDEX share_codes_merchant ON share_codes (merchant_id, created_at);
CREATE TABLE gateway_keys (
	name        TEXT PRIMARY KEY,
	value       TEXT NOT NULL,
	created_at  BIGINT NOT NULL
)
