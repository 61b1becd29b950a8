-- A paid payment keeps, as columns, the rollout cohort and market tier its
-- buyer was in when last shown the method that paid, so that comparing
-- the cohorts' payments (conversion lift, order value by wallet) is plain
-- SQL. Payments paid before are given them from the buyer's latest
-- exposure to the paid method at the merchant at or before paid_at; of
-- exposures at one instant, the newest rules' decision wins.
--
-- exposures_buyer_method finds that exposure (for this backfill, and for
-- the gateway's PaymentCohort in each paying transaction) without reading
-- every exposure of the day. payments_rollout serves the reports: they
-- select one paid method over a span of paid_at and group by cohort and
-- tier, summing amount, so the method is the equality prefix, paid_at
-- the range, and cohort, tier and amount ride along for an index-only
-- read. A cohort-first order would make a span of days read the method's
-- whole history.
CREATE INDEX exposures_buyer_method ON exposures (buyer_id, method, merchant_id, at);
ALTER TABLE payments ADD COLUMN rollout_cohort TEXT NOT NULL DEFAULT '';
ALTER TABLE payments ADD COLUMN rollout_tier TEXT NOT NULL DEFAULT '';
UPDATE payments SET (rollout_cohort, rollout_tier) = (
		SELECT e.cohort, e.tier FROM exposures e
		WHERE e.buyer_id = payments.buyer_id AND e.method = payments.paid_method AND e.merchant_id = payments.merchant_id AND e.at <= payments.paid_at
		ORDER BY e.at DESC, e.rule_version DESC LIMIT 1)
	WHERE paid_at > 0 AND buyer_id <> '' AND paid_method <> '' AND EXISTS (
		SELECT 1 FROM exposures e
		WHERE e.buyer_id = payments.buyer_id AND e.method = payments.paid_method AND e.merchant_id = payments.merchant_id AND e.at <= payments.paid_at);
CREATE INDEX payments_rollout ON payments (paid_method, paid_at, rollout_cohort, rollout_tier, amount)
