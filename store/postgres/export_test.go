package postgres

import "hallmark.dev/hallmark/store/storetest"

// GroupHold gathers a test's publications into one group commit of db.
func GroupHold(db *DB) storetest.GroupHold {
	return storetest.HoldOf(&db.commits, db.transactions.Load)
}
