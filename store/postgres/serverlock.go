package postgres

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
)

// serverLock is the advisory lock key held, shared, by every server on a
// database, and taken alone by a standby before it joins.
const serverLock = 0x68616c6c73727672 // "hallsrvr"

// Holder describes the server process holding a database.
type Holder struct {
	PID     int
	Host    string
	Started time.Time
}

// HeldError is returned by LockServer to a standby while another server
// runs on the database.
type HeldError struct{ Holder Holder }

func (e *HeldError) Error() string {
	h := e.Holder
	if h.PID == 0 {
		return "the database is in use by another hallmark server (it has not written its name yet)"
	}
	return fmt.Sprintf("the database is in use by hallmark server process %d on host %s, started %s",
		h.PID, h.Host, h.Started.UTC().Format(time.RFC3339))
}

// Lock is this process's membership of the servers sharing a database:
// a PostgreSQL session of its own holding the server lock (shared by every
// replica) and the leases of the shards this process publishes (see
// TryShard). PostgreSQL drops them all when the session ends, however the
// process ends (kill -9 included).
type Lock struct {
	mu   sync.Mutex // a pgx.Conn serves one caller at a time
	conn *pgx.Conn
	lost chan struct{}
	stop context.CancelFunc
	done chan struct{}
}

// LockMode says how a server shares a database with others.
type LockMode int

// The ways to hold a database.
const (
	// Replica joins any number of other replicas (which must share one
	// blob store).
	Replica LockMode = iota
	// Alone holds the database while no other server runs, and keeps
	// others out (a server whose blobs are its own).
	Alone
	// Standby waits for no other server to run, then is a Replica.
	Standby
)

// LockServer takes the database's server lock in the given mode, without
// waiting, and records this process as the latest server to start. It
// returns a *HeldError naming that server when the mode does not allow the
// servers running (a standby then waits and tries again). The lock is
// checked every checkEvery; if its connection fails, Lost is closed: the
// holder must then stop publishing, as another server may take its
// shards.
func LockServer(ctx context.Context, url string, now time.Time, checkEvery time.Duration, mode LockMode) (*Lock, error) {
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("invalid database URL: %w", err)
	}
	host, _ := os.Hostname()
	// Operators (and tests) see in pg_stat_activity which process holds
	// which lease.
	cfg.RuntimeParams["application_name"] = fmt.Sprintf("hallmark serve %d@%s", os.Getpid(), host)
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("failed to connect to the database: %w", err)
	}
	var ok bool
	switch mode {
	case Alone, Standby:
		err = conn.QueryRow(ctx, `SELECT pg_try_advisory_lock($1)`, int64(serverLock)).Scan(&ok)
		if err == nil && ok && mode == Standby {
			// Then shared like every other replica's (a session's own
			// locks never conflict with each other).
			_, err = conn.Exec(ctx, `SELECT pg_advisory_lock_shared($1), pg_advisory_unlock($1)`, int64(serverLock))
		}
	default:
		// A standby holds the lock alone for a moment only: try a few
		// times before naming the server that runs alone.
		for range 20 {
			err = conn.QueryRow(ctx, `SELECT pg_try_advisory_lock_shared($1)`, int64(serverLock)).Scan(&ok)
			if err != nil || ok {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	if err != nil {
		conn.Close(ctx)
		return nil, fmt.Errorf("failed to lock the database: %w", err)
	}
	if !ok {
		var h Holder
		err := conn.QueryRow(ctx, `SELECT pid, host, started FROM server_lock WHERE id = 1`).Scan(&h.PID, &h.Host, &h.Started)
		conn.Close(ctx)
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return nil, fmt.Errorf("failed to read who holds the database: %w", err)
		}
		return nil, &HeldError{Holder: h}
	}
	if _, err := conn.Exec(ctx, `INSERT INTO server_lock (id, pid, host, started) VALUES (1, $1, $2, $3)
		ON CONFLICT (id) DO UPDATE SET pid = excluded.pid, host = excluded.host, started = excluded.started`,
		os.Getpid(), host, now); err != nil {
		conn.Close(ctx)
		return nil, fmt.Errorf("failed to record the database's holder: %w", err)
	}
	wctx, stop := context.WithCancel(context.WithoutCancel(ctx))
	l := &Lock{conn: conn, lost: make(chan struct{}), stop: stop, done: make(chan struct{})}
	go l.watch(wctx, checkEvery)
	return l, nil
}

// shardLeaseKey is the first half of the two-key advisory locks that are
// the shards' leases ("hall"); the second is the lease's slot.
const shardLeaseKey = 0x68616c6c

// ShardSlots is the number of shard leases: shard i is published by the
// holder of lease i mod ShardSlots. Every shard has one publisher, and a
// 4,096-shard repository needs no more than 64 locks per replica in
// PostgreSQL's shared lock table.
const ShardSlots = 64

// TryShard takes the lease of a slot of shards if no session holds it,
// without waiting, and reports whether this process holds it. A lease is
// held until the process ends or its session fails (see Lost).
func (l *Lock) TryShard(ctx context.Context, slot int) (bool, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	var ok bool
	err := l.conn.QueryRow(ctx, `SELECT pg_try_advisory_lock($1::int4, $2::int4)`, shardLeaseKey, slot).Scan(&ok)
	if err != nil {
		return false, fmt.Errorf("failed to take the lease of shard slot %d: %w", slot, err)
	}
	return ok, nil
}

// pingTimeout is how long a check of the lock's connection may take before
// the lock counts as lost. A healthy database answers in milliseconds; a
// starved machine (a loaded CI runner) took over 2 s, and giving up then
// closed a healthy session, dropped its leases and stopped the server.
const pingTimeout = 10 * time.Second

// watch pings the lock's connection until it fails or the lock is
// released.
func (l *Lock) watch(ctx context.Context, every time.Duration) {
	defer close(l.done)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		l.mu.Lock()
		pctx, cancel := context.WithTimeout(ctx, pingTimeout)
		err := l.conn.Ping(pctx)
		cancel()
		l.mu.Unlock()
		if err != nil && ctx.Err() == nil {
			close(l.lost)
			return
		}
	}
}

// Lost is closed when the lock's connection failed: the lock may be
// someone else's now.
func (l *Lock) Lost() <-chan struct{} { return l.lost }

// Release gives the database up.
func (l *Lock) Release() {
	if l == nil {
		return
	}
	l.stop()
	<-l.done
	// Closing the connection ends the session, and with it the locks, but
	// the database does so after Close returns: a server started right
	// after this one stopped (a restart, a test) could still find the
	// database in use. Unlocking first makes the release done on return;
	// if that fails, ending the session still drops the locks.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	l.mu.Lock()
	l.conn.Exec(ctx, `SELECT pg_advisory_unlock_all()`)
	l.mu.Unlock()
	l.conn.Close(ctx)
}
