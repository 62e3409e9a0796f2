package postgres

import "hallmark.dev/hallmark/store/storetest"

// GroupHold gathers a test's publications into one group commit of db.
func GroupHold(db *DB) storetest.GroupHold {
	return storetest.GroupHold{
		Lock:         db.commits.Lock,
		Unlock:       db.commits.Unlock,
		Queued:       db.commits.Queued,
		Transactions: db.transactions.Load,
	}
}
