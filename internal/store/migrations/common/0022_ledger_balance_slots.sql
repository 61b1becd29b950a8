-- A platform account's cached balance (a channel's clearing and fees, the
-- commission) is kept in several rows, its slots, so that postings for
-- different merchants update different rows instead of all queueing for
-- one row's lock (store.LedgerBalancesAdd). An account's balance is the sum
-- of its rows; a merchant's accounts keep one row, slot 0, and so do the
-- balances carried over from before.
CREATE TABLE ledger_balance_slots (
	account     TEXT NOT NULL,
	slot        INTEGER NOT NULL,
	balance     BIGINT NOT NULL,
	PRIMARY KEY (account, slot)
);
INSERT INTO ledger_balance_slots (account, slot, balance) SELECT account, 0, balance FROM ledger_balances;
DROP TABLE ledger_balances;
ALTER TABLE ledger_balance_slots RENAME TO ledger_balances
