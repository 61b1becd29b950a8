-- Payments, wallet orders and refunds keep in data only what no column
-- holds: the columns are the truth, from which the store builds an
-- object before adding what data carries. Before data's copies of the
-- columns go, the times migrations 11 and 12 filled from them are read
-- again, to the microsecond and truncated as the store writes them
-- (SQLite's unixepoch reads only milliseconds, so the digits are read
-- by hand). A time data no longer holds keeps its column: the
-- migration can run again and change nothing.
UPDATE payments SET
	paid_at = CASE
		WHEN json_type(data, '$.paid_at') IS NOT 'text' THEN paid_at
		WHEN json_extract(data, '$.paid_at') LIKE '0001-01-01T00:00:00%' THEN 0
		ELSE unixepoch(json_extract(data, '$.paid_at')) * 1000000
			+ CAST(substr(substr(CAST('1' || substr(json_extract(data, '$.paid_at'), 21, 6 * (substr(json_extract(data, '$.paid_at'), 20, 1) = '.')) AS INTEGER), 2) || '000000', 1, 6) AS INTEGER)
	END,
	released_at = CASE
		WHEN json_type(data, '$.released_at') IS NOT 'text' THEN released_at
		WHEN json_extract(data, '$.released_at') LIKE '0001-01-01T00:00:00%' THEN 0
		ELSE unixepoch(json_extract(data, '$.released_at')) * 1000000
			+ CAST(substr(substr(CAST('1' || substr(json_extract(data, '$.released_at'), 21, 6 * (substr(json_extract(data, '$.released_at'), 20, 1) = '.')) AS INTEGER), 2) || '000000', 1, 6) AS INTEGER)
	END;
UPDATE payment_attempts SET
	updated_at = CASE
		WHEN json_type(data, '$.updated') IS NOT 'text' THEN updated_at
		WHEN json_extract(data, '$.updated') LIKE '0001-01-01T00:00:00%' THEN created_at
		ELSE unixepoch(json_extract(data, '$.updated')) * 1000000
			+ CAST(substr(substr(CAST('1' || substr(json_extract(data, '$.updated'), 21, 6 * (substr(json_extract(data, '$.updated'), 20, 1) = '.')) AS INTEGER), 2) || '000000', 1, 6) AS INTEGER)
	END;
UPDATE refunds SET
	updated_at = CASE
		WHEN json_type(data, '$.updated') IS NOT 'text' THEN updated_at
		WHEN json_extract(data, '$.updated') LIKE '0001-01-01T00:00:00%' THEN created_at
		ELSE unixepoch(json_extract(data, '$.updated')) * 1000000
			+ CAST(substr(substr(CAST('1' || substr(json_extract(data, '$.updated'), 21, 6 * (substr(json_extract(data, '$.updated'), 20, 1) = '.')) AS INTEGER), 2) || '000000', 1, 6) AS INTEGER)
	END,
	succeeded_at = CASE
		WHEN json_type(data, '$.succeeded_at') IS NOT 'text' THEN succeeded_at
		WHEN json_extract(data, '$.succeeded_at') LIKE '0001-01-01T00:00:00%' THEN 0
		ELSE unixepoch(json_extract(data, '$.succeeded_at')) * 1000000
			+ CAST(substr(substr(CAST('1' || substr(json_extract(data, '$.succeeded_at'), 21, 6 * (substr(json_extract(data, '$.succeeded_at'), 20, 1) = '.')) AS INTEGER), 2) || '000000', 1, 6) AS INTEGER)
	END;
UPDATE payments SET data = json_remove(data,
	'$.id', '$.merchant_id', '$.merchant_order_id', '$.created', '$.status', '$.method', '$.amount', '$.amount_refunded', '$.updated', '$.channel', '$.paid_method', '$.share_code', '$.paid_at', '$.released_at',
	'$.buyer.id', '$.buyer.region_code', '$.buyer.platform', '$.payer.wallet_payer');
UPDATE payment_attempts SET data = json_remove(data, '$.id', '$.payment_id', '$.status', '$.channel', '$.method', '$.created', '$.updated');
UPDATE refunds SET data = json_remove(data, '$.id', '$.payment_id', '$.amount', '$.kind', '$.status', '$.created', '$.updated', '$.succeeded_at')
