-- The funnel reports (funnels.go): how checkouts get from the cashier to
-- a paid order, how each method's wallet orders end, how long the
-- wallets' notifications take, and what share codes and pay-for-me
-- requests bring. Each has its rollup table, kept by AnalyticsRefresh
-- beside analytics_days, per Beijing day and merchant ('*' for the whole
-- marketplace) and the report's own dimensions.
--
-- exposures.browser is the browser the cashier was opened in when the
-- exposure was recorded: a wallet's in-app browser ('wechatpay',
-- 'alipay', as internal/useragent names them) or 'other'; '' where it
-- was not recorded (exposures written before, and decisions not made on
-- a cashier page).
ALTER TABLE exposures ADD COLUMN browser TEXT NOT NULL DEFAULT '';

-- funnel_days: the checkouts whose cashier was first opened that day, in
-- the browser of that first opening, in the buyer's market tier. The row
-- of channel '' counts every such checkout (opened), those where the buyer
-- chose a method (chose) and those paid through it (paid); a row per
-- wallet counts those where the buyer chose that wallet and those paid
-- through it (opened is 0 there).
CREATE TABLE funnel_days (
	day         BIGINT NOT NULL,
	merchant_id TEXT NOT NULL,
	tier        TEXT NOT NULL,
	browser     TEXT NOT NULL,
	channel     TEXT NOT NULL,
	opened      BIGINT NOT NULL,
	chose       BIGINT NOT NULL,
	paid        BIGINT NOT NULL,
	PRIMARY KEY (merchant_id, day, tier, browser, channel)
);

-- attempt_days: the wallet orders opened that day, by method and by how
-- they ended (MethodOutcomes' outcome).
CREATE TABLE attempt_days (
	day         BIGINT NOT NULL,
	merchant_id TEXT NOT NULL,
	tier        TEXT NOT NULL,
	method      TEXT NOT NULL,
	outcome     TEXT NOT NULL,
	attempts    BIGINT NOT NULL,
	PRIMARY KEY (merchant_id, day, tier, method, outcome)
);

-- notify_days: the orders paid that day through each wallet, by the
-- log-scale bucket of the delay between the wallet's success time and
-- the first notification hutong received for the paying wallet order
-- (-1: none received).
CREATE TABLE notify_days (
	day         BIGINT NOT NULL,
	merchant_id TEXT NOT NULL,
	channel     TEXT NOT NULL,
	bucket      INTEGER NOT NULL,
	orders      BIGINT NOT NULL,
	PRIMARY KEY (merchant_id, day, channel, bucket)
);

-- sharecode_days: the share codes issued that day by source: issued,
-- resolved at least once, resolves, paid for at least once, paid orders
-- and their amount (fen), as the codes' counters stand.
CREATE TABLE sharecode_days (
	day         BIGINT NOT NULL,
	merchant_id TEXT NOT NULL,
	source      TEXT NOT NULL,
	issued      BIGINT NOT NULL,
	resolved    BIGINT NOT NULL,
	resolves    BIGINT NOT NULL,
	paid        BIGINT NOT NULL,
	paid_orders BIGINT NOT NULL,
	paid_amount BIGINT NOT NULL,
	PRIMARY KEY (merchant_id, day, source)
);

-- payforme_days: the pay-for-me requests asked that day, in the buyer's
-- market tier, and those paid.
CREATE TABLE payforme_days (
	day         BIGINT NOT NULL,
	merchant_id TEXT NOT NULL,
	tier        TEXT NOT NULL,
	asked       BIGINT NOT NULL,
	paid        BIGINT NOT NULL,
	PRIMARY KEY (merchant_id, day, tier)
);

-- A share code's last resolve, which the refresh finds changed codes by
-- (a paid order changes its payment, found by the payments' updated_at).
ALTER TABLE share_codes ADD COLUMN resolved_at BIGINT NOT NULL DEFAULT 0;
CREATE INDEX share_codes_resolved ON share_codes (resolved_at);
CREATE INDEX share_codes_created ON share_codes (created_at);
CREATE INDEX pay_for_me_created ON pay_for_me (created_at);

-- The rollup starts from nothing: the next refresh rebuilds all of it.
UPDATE analytics_state SET tiers = '';

-- The sources' reads. A checkout's exposures by payment (its first
-- opening and that opening's browser); wallet orders by their last change
-- (by the day they were opened: payment_attempts_created); the wallets'
-- messages by the order they name with their arrival (which serves the
-- timeline's look-up by order as wallet_events_object did), and by
-- arrival for the refresh.
CREATE INDEX exposures_payment ON exposures (payment_id, at, browser) WHERE payment_id <> '';
CREATE INDEX payment_attempts_updated ON payment_attempts (updated_at);
DROP INDEX wallet_events_object;
CREATE INDEX wallet_events_object ON wallet_events (object_id, received_at);
CREATE INDEX wallet_events_received ON wallet_events (received_at);
