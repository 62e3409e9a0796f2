package postgres

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/jackc/pgx/v5"
)

// serverLock is the advisory lock key held by the one server publishing
// on a database.
const serverLock = 0x68616c6c73727672 // "hallsrvr"

// Holder describes the server process holding a database.
type Holder struct {
	PID     int
	Host    string
	Started time.Time
}

// HeldError is returned by LockServer when another server holds the
// database.
type HeldError struct{ Holder Holder }

func (e *HeldError) Error() string {
	h := e.Holder
	if h.PID == 0 {
		return "the database is in use by another hallmark server (it has not written its name yet)"
	}
	return fmt.Sprintf("the database is in use by hallmark server process %d on host %s, started %s",
		h.PID, h.Host, h.Started.UTC().Format(time.RFC3339))
}

// Lock is a database held by this process: a PostgreSQL session-level
// advisory lock on a connection of its own. PostgreSQL drops it when the
// connection ends, however the process ends (kill -9 included).
type Lock struct {
	conn *pgx.Conn
	lost chan struct{}
	stop context.CancelFunc
	done chan struct{}
}

// LockServer takes the database's server lock without waiting and
// records this process as its holder. It returns a *HeldError naming the
// holder when another process holds it. The lock is checked every
// checkEvery; if its connection fails, Lost is closed: the holder must
// then stop publishing, as another server may take the lock.
func LockServer(ctx context.Context, url string, now time.Time, checkEvery time.Duration) (*Lock, error) {
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return nil, fmt.Errorf("failed to connect to the database: %w", err)
	}
	var ok bool
	if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock($1)`, int64(serverLock)).Scan(&ok); err != nil {
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
	host, _ := os.Hostname()
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
		pctx, cancel := context.WithTimeout(ctx, every)
		err := l.conn.Ping(pctx)
		cancel()
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
	l.conn.Close(context.Background()) // ending the session drops the lock
}
