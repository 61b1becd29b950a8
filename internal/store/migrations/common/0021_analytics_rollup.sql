-- The analytics reports read a rollup, not the payments: at a million
-- payments a year no index lets either database aggregate a year of rows
-- in the half second a page has. AnalyticsRefresh (rollup.go) keeps these
-- tables, every minute from a job, re-reading only what changed since its
-- last run; the reports sum a few thousand rows.
--
-- analytics_days: one Beijing day's paid orders of one merchant ('*' for
-- the whole marketplace) in one market tier through one wallet: orders,
-- GMV, orders with a refund (and with a refund_only one), and orders that
-- were their buyer's first paid order on the marketplace.
CREATE TABLE analytics_days (
	day                BIGINT NOT NULL,
	merchant_id        TEXT NOT NULL,
	tier               TEXT NOT NULL,
	channel            TEXT NOT NULL,
	orders             BIGINT NOT NULL,
	gmv                BIGINT NOT NULL,
	refunded_orders    BIGINT NOT NULL,
	refund_only_orders BIGINT NOT NULL,
	new_buyers         BIGINT NOT NULL,
	PRIMARY KEY (merchant_id, day, tier, channel)
);
CREATE INDEX analytics_days_day ON analytics_days (day);

-- first_orders: each buyer's first paid order on the marketplace (the
-- earliest paid_at, then the smaller id).
CREATE TABLE first_orders (
	buyer_id    TEXT PRIMARY KEY,
	payment_id  TEXT NOT NULL,
	merchant_id TEXT NOT NULL,
	channel     TEXT NOT NULL,
	region_code TEXT NOT NULL,
	paid_at     BIGINT NOT NULL
);

-- rollout_arms: when a buyer first entered one arm (shown the method or
-- not) of its rollout in one market tier, and when they first paid any
-- order after that (0: not yet).
CREATE TABLE rollout_arms (
	method     TEXT NOT NULL,
	buyer_id   TEXT NOT NULL,
	tier       TEXT NOT NULL,
	shown      INTEGER NOT NULL,
	entered_at BIGINT NOT NULL,
	paid_at    BIGINT NOT NULL,
	PRIMARY KEY (method, buyer_id, tier, shown)
);
CREATE INDEX rollout_arms_entered ON rollout_arms (method, entered_at, tier, shown, paid_at);

-- rollout_days: how many buyers entered one arm of a method's rollout in
-- one tier on one Beijing day, by the Beijing day they first paid after
-- entering (-1: not yet). A report over whole days sums them.
CREATE TABLE rollout_days (
	method   TEXT NOT NULL,
	day      BIGINT NOT NULL,
	tier     TEXT NOT NULL,
	shown    INTEGER NOT NULL,
	paid_day BIGINT NOT NULL,
	buyers   BIGINT NOT NULL,
	PRIMARY KEY (method, day, tier, shown, paid_day)
);

-- analytics_state: the one row saying how far the rollup has read
-- (payments by updated_at, exposures by at) and under which market-tier
-- rule (the SHA-256 of the SQL that computes it).
CREATE TABLE analytics_state (
	id             INTEGER PRIMARY KEY CHECK (id = 1),
	tiers          TEXT NOT NULL,
	payments_mark  BIGINT NOT NULL,
	exposures_mark BIGINT NOT NULL,
	refreshed_at   BIGINT NOT NULL
);

-- The refresh finds what changed since its last run by updated_at.
CREATE INDEX payments_updated ON payments (updated_at);
