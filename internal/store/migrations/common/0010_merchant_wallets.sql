-- What a merchant's payments on each wallet are made under, one row per
-- merchant and wallet, instead of a column per wallet on merchants: a new
-- wallet needs no schema change. sub_merchant is the reference the
-- wallet's connector acts under (WeChat Pay's sub_mchid, Alipay's
-- app_auth_token); seller is the wallet user id its messages name for the
-- merchant (Alipay's seller_id), '' where the wallet names none.
CREATE TABLE merchant_wallets (
	merchant_id  TEXT NOT NULL REFERENCES merchants (id),
	channel      TEXT NOT NULL,
	sub_merchant TEXT NOT NULL DEFAULT '',
	seller       TEXT NOT NULL DEFAULT '',
	PRIMARY KEY (merchant_id, channel)
);
INSERT INTO merchant_wallets (merchant_id, channel, sub_merchant, seller)
	SELECT id, 'wechatpay', wechat_sub_mchid, '' FROM merchants WHERE wechat_sub_mchid <> '';
INSERT INTO merchant_wallets (merchant_id, channel, sub_merchant, seller)
	SELECT id, 'alipay', alipay_app_auth_token, alipay_seller_id FROM merchants
	WHERE alipay_app_auth_token <> '' OR alipay_seller_id <> '';
ALTER TABLE merchants DROP COLUMN wechat_sub_mchid;
ALTER TABLE merchants DROP COLUMN alipay_app_auth_token;
ALTER TABLE merchants DROP COLUMN alipay_seller_id;
