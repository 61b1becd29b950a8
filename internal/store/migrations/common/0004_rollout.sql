-- Opening a new wallet safely: agreements and merchant contracts per
-- channel with every transition, signing campaigns, versioned rollout
-- rules, exposures at checkout, and buyer feedback. Merchants gain the
-- attributes campaigns filter on.
ALTER TABLE merchants ADD COLUMN category TEXT NOT NULL DEFAULT '';
ALTER TABLE merchants ADD COLUMN region_code TEXT NOT NULL DEFAULT '';
ALTER TABLE merchants ADD COLUMN size TEXT NOT NULL DEFAULT '';
CREATE TABLE agreements (
	channel     TEXT NOT NULL,
	version     INTEGER NOT NULL,
	title       TEXT NOT NULL,
	body        TEXT NOT NULL,
	text_sha256 TEXT NOT NULL,
	require_resign INTEGER NOT NULL DEFAULT 0,
	created_by  TEXT NOT NULL,
	created_at  BIGINT NOT NULL,
	PRIMARY KEY (channel, version)
);
CREATE TABLE contracts (
	id          TEXT PRIMARY KEY,
	merchant_id TEXT NOT NULL REFERENCES merchants (id),
	channel     TEXT NOT NULL,
	state       TEXT NOT NULL,
	campaign_id TEXT NOT NULL DEFAULT '',
	sign_token  TEXT NOT NULL,
	updated_at  BIGINT NOT NULL,
	data        TEXT NOT NULL,
	UNIQUE (merchant_id, channel)
);
CREATE INDEX contracts_state ON contracts (channel, state);
CREATE TABLE contract_transitions (
	contract_id TEXT NOT NULL,
	seq         INTEGER NOT NULL,
	from_state  TEXT NOT NULL,
	to_state    TEXT NOT NULL,
	action      TEXT NOT NULL,
	actor       TEXT NOT NULL,
	reason      TEXT NOT NULL DEFAULT '',
	at          BIGINT NOT NULL,
	PRIMARY KEY (contract_id, seq)
);
CREATE TABLE campaigns (
	id          TEXT PRIMARY KEY,
	channel     TEXT NOT NULL,
	deadline    BIGINT NOT NULL,
	created_at  BIGINT NOT NULL,
	data        TEXT NOT NULL
);
CREATE TABLE rollout_rules (
	version     INTEGER PRIMARY KEY,
	method      TEXT NOT NULL,
	rule        TEXT NOT NULL,
	actor       TEXT NOT NULL,
	reason      TEXT NOT NULL,
	created_at  BIGINT NOT NULL
);
CREATE TABLE exposures (
	at          BIGINT NOT NULL,
	buyer_id    TEXT NOT NULL,
	merchant_id TEXT NOT NULL,
	method      TEXT NOT NULL,
	shown       INTEGER NOT NULL,
	rule_version INTEGER NOT NULL,
	cohort      TEXT NOT NULL,
	tier        TEXT NOT NULL DEFAULT '',
	region_code TEXT NOT NULL DEFAULT '',
	platform    TEXT NOT NULL DEFAULT '',
	app_version TEXT NOT NULL DEFAULT '',
	payment_id  TEXT NOT NULL DEFAULT ''
);
CREATE INDEX exposures_buyer ON exposures (at, buyer_id);
CREATE TABLE feedback (
	id          TEXT PRIMARY KEY,
	merchant_id TEXT NOT NULL,
	payment_id  TEXT NOT NULL DEFAULT '',
	buyer_id    TEXT NOT NULL DEFAULT '',
	method      TEXT NOT NULL,
	rating      INTEGER NOT NULL CHECK (rating BETWEEN 1 AND 5),
	body        TEXT NOT NULL,
	cohort      TEXT NOT NULL DEFAULT '',
	tier        TEXT NOT NULL DEFAULT '',
	created_at  BIGINT NOT NULL
);
CREATE INDEX feedback_list ON feedback (method, created_at)
