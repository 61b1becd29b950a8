-- The analytics reports read a span of paid_at of paid orders and group
-- by week, region (the market tier) and wallet, summing amount (and
-- looking up the refunds of orders whose refunded is not 0):
-- payments_analytics holds all of that in paid_at order, so the span is
-- one index-only range read, without visiting the table. Partial, on
-- status = 'succeeded', because only paid orders are read and most of the
-- unpaid never will be.
--
-- payments_first_order gives each buyer's paid orders in paid_at order
-- with what their first order's report needs (NewBuyers' window reads it
-- without sorting) and answers RolloutConversion's "did this buyer pay
-- after this instant" from the index alone.
--
-- exposures_method serves RolloutConversion: one method's exposures over
-- a span of at, with the buyer, tier and arm it groups by.
CREATE INDEX payments_analytics ON payments (paid_at, channel, region_code, amount, merchant_id, refunded, id) WHERE status = 'succeeded';
CREATE INDEX payments_first_order ON payments (buyer_id, paid_at, id, channel, region_code, merchant_id) WHERE status = 'succeeded';
CREATE INDEX exposures_method ON exposures (method, at, buyer_id, tier, shown)
