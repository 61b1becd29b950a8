-- The wallet's own number for a payment and for each wallet order
-- (WeChat Pay's transaction_id, Alipay's trade_no) becomes a column: it is
-- what a buyer reads off a wallet receipt, so support finds payments by
-- it. data keeps no copy; rows written before are read from it here.
ALTER TABLE payments ADD COLUMN wallet_trade_no TEXT NOT NULL DEFAULT '';
UPDATE payments SET wallet_trade_no = json_extract(data, '$.wallet_trade_no') WHERE json_type(data, '$.wallet_trade_no') = 'text';
UPDATE payments SET data = json_remove(data, '$.wallet_trade_no');
CREATE INDEX payments_wallet_trade_no ON payments (wallet_trade_no) WHERE wallet_trade_no <> '';
ALTER TABLE payment_attempts ADD COLUMN wallet_trade_no TEXT NOT NULL DEFAULT '';
UPDATE payment_attempts SET wallet_trade_no = json_extract(data, '$.wallet_trade_no') WHERE json_type(data, '$.wallet_trade_no') = 'text';
UPDATE payment_attempts SET data = json_remove(data, '$.wallet_trade_no');
CREATE INDEX payment_attempts_wallet_trade_no ON payment_attempts (wallet_trade_no) WHERE wallet_trade_no <> '';
-- A payment's timeline (the operators' console) reads the wallet messages
-- about its wallet orders and refunds by the object they name (events have
-- events_object already).
CREATE INDEX wallet_events_object ON wallet_events (object_id);
