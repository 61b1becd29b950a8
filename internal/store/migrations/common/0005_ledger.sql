-- Money that adds up: the double-entry journal (entries and their lines),
-- cached balances rebuilt from the lines, settlement batches, and
-- reconciliation runs with their results. Merchants gain a commission rate
-- and whether their payable may go negative (refunds after release).
ALTER TABLE merchants ADD COLUMN commission_bps INTEGER NOT NULL DEFAULT -1;
ALTER TABLE merchants ADD COLUMN allow_negative_payable INTEGER NOT NULL DEFAULT 0;
CREATE TABLE ledger_entries (
	id          TEXT PRIMARY KEY,
	kind        TEXT NOT NULL,
	merchant_id TEXT NOT NULL,
	payment_id  TEXT NOT NULL DEFAULT '',
	refund_id   TEXT NOT NULL DEFAULT '',
	memo        TEXT NOT NULL DEFAULT '',
	at          BIGINT NOT NULL
);
CREATE INDEX ledger_entries_merchant ON ledger_entries (merchant_id, at, id);
CREATE INDEX ledger_entries_payment ON ledger_entries (payment_id);
CREATE TABLE ledger_lines (
	entry_id    TEXT NOT NULL REFERENCES ledger_entries (id),
	line        INTEGER NOT NULL,
	account     TEXT NOT NULL,
	amount      BIGINT NOT NULL CHECK (amount <> 0),
	PRIMARY KEY (entry_id, line)
);
CREATE INDEX ledger_lines_account ON ledger_lines (account);
CREATE TABLE ledger_balances (
	account     TEXT PRIMARY KEY,
	balance     BIGINT NOT NULL
);
CREATE TABLE settlement_batches (
	id          TEXT PRIMARY KEY,
	merchant_id TEXT NOT NULL,
	day         TEXT NOT NULL,
	amount      BIGINT NOT NULL,
	created_at  BIGINT NOT NULL,
	UNIQUE (merchant_id, day)
);
CREATE TABLE recon_runs (
	id          TEXT PRIMARY KEY,
	channel     TEXT NOT NULL,
	day         TEXT NOT NULL,
	status      TEXT NOT NULL,
	created_at  BIGINT NOT NULL,
	data        TEXT NOT NULL
);
CREATE TABLE recon_items (
	run_id      TEXT NOT NULL,
	seq         INTEGER NOT NULL,
	kind        TEXT NOT NULL,
	object_id   TEXT NOT NULL,
	data        TEXT NOT NULL,
	PRIMARY KEY (run_id, seq)
)
