-- What the console's money pages need of the schema.
--
-- recon_resolutions: a reconciliation discrepancy marked resolved, with
-- the note finance wrote, who and when. One per item (run_id, seq): the
-- first resolution stands, so two people resolving at once cannot both
-- believe theirs is recorded. item_key repeats the item's object so that a
-- resolution read alone still says what it was about.
--
-- payments_in_escrow: the paid payments not yet released, by the time they
-- were paid, which the escrow list reads in order; a partial index stays
-- as small as the escrow itself, not the whole payments table.
CREATE TABLE recon_resolutions (
	run_id      TEXT NOT NULL,
	seq         INTEGER NOT NULL,
	item_key    TEXT NOT NULL,
	note        TEXT NOT NULL,
	resolved_by TEXT NOT NULL,
	resolved_at BIGINT NOT NULL,
	PRIMARY KEY (run_id, seq),
	FOREIGN KEY (run_id, seq) REFERENCES recon_items (run_id, seq)
);
CREATE INDEX payments_in_escrow ON payments (paid_at, id) WHERE status = 'succeeded' AND released_at = 0;
