-- The seller (Alipay user id) an authorizing merchant's trades name.
ALTER TABLE merchants ADD COLUMN alipay_seller_id TEXT NOT NULL DEFAULT '';

-- Wallet messages refused because something they name is not what hutong
-- sent: one row per message (a notification's id, or a query answer's
-- order and field), counted at each arrival.
CREATE TABLE wallet_mismatches (
	channel     TEXT NOT NULL,
	message_id  TEXT NOT NULL,
	source      TEXT NOT NULL,
	merchant_id TEXT NOT NULL,
	payment_id  TEXT NOT NULL,
	field       TEXT NOT NULL,
	expected    TEXT NOT NULL,
	got         TEXT NOT NULL,
	times       BIGINT NOT NULL,
	first_at    BIGINT NOT NULL,
	last_at     BIGINT NOT NULL,
	PRIMARY KEY (channel, message_id)
);
CREATE INDEX wallet_mismatches_payment ON wallet_mismatches (merchant_id, payment_id, first_at);
