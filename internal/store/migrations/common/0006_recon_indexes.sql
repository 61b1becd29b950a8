-- Reconciliation reads a day's wallet orders and refunds by when they were
-- made, not the whole tables.
CREATE INDEX payment_attempts_created ON payment_attempts (created_at);
CREATE INDEX refunds_created ON refunds (created_at)
