package postgres

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"hallmark.dev/hallmark/internal/groupcommit"
	"hallmark.dev/hallmark/store"
)

// group commits publications that arrive together (the publishing loops
// of many shards) in one transaction of one batch: three round trips for
// the group instead of three each, and one WAL flush.
type group struct {
	commits groupcommit.Group[store.Publication]
	// transactions counts committed transactions (tests read it).
	transactions atomic.Int64
}

// groupTimeout bounds a group's transaction: a database that stops
// answering must not hold every shard's publishing loop (and a stopping
// server) for long.
const groupTimeout = 30 * time.Second

// ErrOutcomeUnknown is returned by Commit when the database did not
// confirm a commit it may have made (the connection failed during COMMIT).
var ErrOutcomeUnknown = errors.New("the database did not confirm the commit: the change may or may not have been published; check with 'hallmark versions' and send it again if it is missing")

// Commit implements store.State. Publications committed concurrently are
// written in one transaction, their statements in one batch; when a
// statement of the group fails or conflicts (the transaction is then
// rolled back), each is committed alone, so each caller gets its own
// answer.
func (d *DB) Commit(ctx context.Context, p store.Publication) error {
	return d.commits.Do(ctx, p, func(ctx context.Context, g []*groupcommit.Request[store.Publication]) {
		ctx, cancel := context.WithTimeout(ctx, groupTimeout)
		defer cancel()
		d.commitGroup(ctx, g)
	})
}

// commitGroup commits a group of publications and answers each.
func (d *DB) commitGroup(ctx context.Context, g []*groupcommit.Request[store.Publication]) {
	if len(g) > 1 {
		pubs := make([]store.Publication, len(g))
		for i, r := range g {
			pubs[i] = r.Item
		}
		written, err := d.transact(ctx, pubs...)
		if err == nil || written {
			// Committed, or COMMIT failed without an answer: then it may
			// have been made, and committing each again would turn
			// published changes into conflicts.
			for _, r := range g {
				r.Answer(err)
			}
			return
		}
		// A statement failed (rare: a replica that raced this one, a
		// refused row) and the transaction was rolled back: find out
		// which, one at a time.
	}
	for _, r := range g {
		_, err := d.transact(ctx, r.Item)
		r.Answer(err)
	}
}

// transact writes publications in one transaction. written reports that
// every statement succeeded and COMMIT was sent: an error then leaves the
// outcome unknown (ErrOutcomeUnknown), unless the database refused the
// commit.
func (d *DB) transact(ctx context.Context, pubs ...store.Publication) (written bool, err error) {
	tx, err := d.pool.Begin(ctx)
	if err != nil {
		return false, fmt.Errorf("failed to begin the commit: %w", err)
	}
	if err := writePublications(ctx, tx, pubs...); err != nil {
		tx.Rollback(context.WithoutCancel(ctx))
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) && pgErr.Code == "23505" { // unique_violation: a racing insert won
			return false, fmt.Errorf("%w: %s", store.ErrConflict, pgErr.Message)
		}
		return false, err
	}
	if err := tx.Commit(ctx); err != nil {
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) {
			// The database answered: it refused the commit.
			if pgErr.Code == "23505" {
				return false, fmt.Errorf("%w: %s", store.ErrConflict, pgErr.Message)
			}
			return false, fmt.Errorf("failed to commit: %w", err)
		}
		if errors.Is(err, pgx.ErrTxCommitRollback) {
			return false, fmt.Errorf("failed to commit: %w", err)
		}
		return true, fmt.Errorf("%w (%v)", ErrOutcomeUnknown, err)
	}
	d.transactions.Add(1)
	return true, nil
}
