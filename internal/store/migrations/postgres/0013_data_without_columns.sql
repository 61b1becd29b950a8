-- Payments, wallet orders and refunds keep in data only what no column
-- holds: the columns are the truth, from which the store builds an
-- object before adding what data carries. Before data's copies of the
-- columns go, the times migrations 11 and 12 filled from them are read
-- again, to the microsecond and truncated as the store writes them (a
-- timestamptz rounds finer digits, so they are cut first). A time data
-- no longer holds keeps its column: the migration can run again and
-- change nothing.
UPDATE payments SET
	paid_at = CASE
		WHEN jsonb_typeof(data::jsonb->'paid_at') IS DISTINCT FROM 'string' THEN paid_at
		WHEN data::jsonb->>'paid_at' LIKE '0001-01-01T00:00:00%' THEN 0
		ELSE (EXTRACT(EPOCH FROM regexp_replace(data::jsonb->>'paid_at', '(\.\d{6})\d+', '\1')::timestamptz) * 1000000)::bigint
	END,
	released_at = CASE
		WHEN jsonb_typeof(data::jsonb->'released_at') IS DISTINCT FROM 'string' THEN released_at
		WHEN data::jsonb->>'released_at' LIKE '0001-01-01T00:00:00%' THEN 0
		ELSE (EXTRACT(EPOCH FROM regexp_replace(data::jsonb->>'released_at', '(\.\d{6})\d+', '\1')::timestamptz) * 1000000)::bigint
	END;
UPDATE payment_attempts SET
	updated_at = CASE
		WHEN jsonb_typeof(data::jsonb->'updated') IS DISTINCT FROM 'string' THEN updated_at
		WHEN data::jsonb->>'updated' LIKE '0001-01-01T00:00:00%' THEN created_at
		ELSE (EXTRACT(EPOCH FROM regexp_replace(data::jsonb->>'updated', '(\.\d{6})\d+', '\1')::timestamptz) * 1000000)::bigint
	END;
UPDATE refunds SET
	updated_at = CASE
		WHEN jsonb_typeof(data::jsonb->'updated') IS DISTINCT FROM 'string' THEN updated_at
		WHEN data::jsonb->>'updated' LIKE '0001-01-01T00:00:00%' THEN created_at
		ELSE (EXTRACT(EPOCH FROM regexp_replace(data::jsonb->>'updated', '(\.\d{6})\d+', '\1')::timestamptz) * 1000000)::bigint
	END,
	succeeded_at = CASE
		WHEN jsonb_typeof(data::jsonb->'succeeded_at') IS DISTINCT FROM 'string' THEN succeeded_at
		WHEN data::jsonb->>'succeeded_at' LIKE '0001-01-01T00:00:00%' THEN 0
		ELSE (EXTRACT(EPOCH FROM regexp_replace(data::jsonb->>'succeeded_at', '(\.\d{6})\d+', '\1')::timestamptz) * 1000000)::bigint
	END;
UPDATE payments SET data = (data::jsonb - 'id' - 'merchant_id' - 'merchant_order_id' - 'created' - 'status' - 'method' - 'amount' - 'amount_refunded' - 'updated' - 'channel' - 'paid_method' - 'share_code' - 'paid_at' - 'released_at'
	#- '{buyer,id}' #- '{buyer,region_code}' #- '{buyer,platform}' #- '{payer,wallet_payer}')::text;
UPDATE payment_attempts SET data = (data::jsonb - 'id' - 'payment_id' - 'status' - 'channel' - 'method' - 'created' - 'updated')::text;
UPDATE refunds SET data = (data::jsonb - 'id' - 'payment_id' - 'amount' - 'kind' - 'status' - 'created' - 'updated' - 'succeeded_at')::text
