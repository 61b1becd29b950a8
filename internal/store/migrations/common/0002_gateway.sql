-- The gateway: merchants and their API keys, payments and refunds (the
-- object as JSON in data, with the columns queries need beside it), wallet
-- events applied (for exactly-once), events published, webhook endpoints and
-- attempts, and idempotency keys.
CREATE TABLE merchants (
	id          TEXT PRIMARY KEY,
	name        TEXT NOT NULL,
	wechat_sub_mchid      TEXT NOT NULL DEFAULT '',
	alipay_app_auth_token TEXT NOT NULL DEFAULT '',
	created_at  BIGINT NOT NULL
);
CREATE TABLE api_keys (
	id          TEXT PRIMARY KEY,
	merchant_id TEXT REFERENCES merchants (id),
	hash        TEXT NOT NULL UNIQUE,
	prefix      TEXT NOT NULL,
	created_at  BIGINT NOT NULL,
	revoked_at  BIGINT
);
CREATE TABLE payments (
	id                TEXT PRIMARY KEY,
	merchant_id       TEXT NOT NULL REFERENCES merchants (id),
	merchant_order_id TEXT NOT NULL,
	status            TEXT NOT NULL,
	method            TEXT NOT NULL,
	amount            BIGINT NOT NULL,
	refunded          BIGINT NOT NULL DEFAULT 0 CHECK (refunded >= 0 AND refunded <= amount),
	created_at        BIGINT NOT NULL,
	updated_at        BIGINT NOT NULL,
	data              TEXT NOT NULL,
	UNIQUE (merchant_id, merchant_order_id)
);
CREATE INDEX payments_list ON payments (merchant_id, created_at, id);
CREATE TABLE refunds (
	id          TEXT PRIMARY KEY,
	payment_id  TEXT NOT NULL REFERENCES payments (id),
	merchant_id TEXT NOT NULL,
	status      TEXT NOT NULL,
	amount      BIGINT NOT NULL CHECK (amount > 0),
	created_at  BIGINT NOT NULL,
	data        TEXT NOT NULL
);
CREATE INDEX refunds_payment ON refunds (payment_id);
CREATE TABLE wallet_events (
	channel     TEXT NOT NULL,
	event_id    TEXT NOT NULL,
	object_id   TEXT NOT NULL,
	received_at BIGINT NOT NULL,
	PRIMARY KEY (channel, event_id)
);
CREATE TABLE events (
	id          TEXT PRIMARY KEY,
	merchant_id TEXT NOT NULL,
	type        TEXT NOT NULL,
	object_id   TEXT NOT NULL,
	data        TEXT NOT NULL,
	created_at  BIGINT NOT NULL
);
CREATE INDEX events_list ON events (merchant_id, created_at, id);
CREATE TABLE webhook_endpoints (
	id          TEXT PRIMARY KEY,
	merchant_id TEXT NOT NULL REFERENCES merchants (id),
	url         TEXT NOT NULL,
	secret      TEXT NOT NULL,
	created_at  BIGINT NOT NULL,
	deleted_at  BIGINT
);
CREATE TABLE webhook_attempts (
	event_id    TEXT NOT NULL,
	endpoint_id TEXT NOT NULL,
	attempt     INTEGER NOT NULL,
	at          BIGINT NOT NULL,
	status_code INTEGER NOT NULL,
	error       TEXT NOT NULL DEFAULT '',
	duration_ms BIGINT NOT NULL,
	PRIMARY KEY (event_id, endpoint_id, attempt)
);
CREATE TABLE idempotency_keys (
	api_key_id   TEXT NOT NULL,
	key          TEXT NOT NULL,
	request_hash TEXT NOT NULL,
	status       INTEGER NOT NULL,
	response     TEXT NOT NULL,
	created_at   BIGINT NOT NULL,
	PRIMARY KEY (api_key_id, key)
)
