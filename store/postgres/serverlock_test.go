package postgres_test

import (
	"errors"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"hallmark.dev/hallmark/store/postgres"
)

// One server at a time on a database: a second one is refused naming the
// first; the lock follows the first one's session, so it is free again
// when that session ends, whether the server released it or its
// connection died (and then the first one learns it lost the lock).
func TestServerLockHasOneHolder(t *testing.T) {
	url := migrated(t)
	started := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
	first, err := postgres.LockServer(ctx, url, started, 50*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	_, err = postgres.LockServer(ctx, url, started.Add(time.Minute), time.Second)
	var held *postgres.HeldError
	if !errors.As(err, &held) {
		t.Fatalf("second LockServer: %v; want a HeldError", err)
	}
	host, _ := os.Hostname()
	if held.Holder.PID != os.Getpid() || held.Holder.Host != host || !held.Holder.Started.Equal(started) {
		t.Errorf("holder = %+v", held.Holder)
	}
	if !strings.Contains(err.Error(), "process "+strconv.Itoa(os.Getpid())+" on host "+host+", started 2026-12-03T10:00:00Z") {
		t.Errorf("refusal does not name the holder: %v", err)
	}
	first.Release()

	second, err := postgres.LockServer(ctx, url, started.Add(2*time.Minute), 50*time.Millisecond)
	if err != nil {
		t.Fatalf("LockServer after Release: %v", err)
	}
	select {
	case <-second.Lost():
		t.Fatal("a held lock reports itself lost")
	case <-time.After(200 * time.Millisecond):
	}
	// The holder's session dies (a network cut, a database restart).
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory' AND granted AND pid <> pg_backend_pid()`); err != nil {
		t.Fatal(err)
	}
	select {
	case <-second.Lost():
	case <-time.After(5 * time.Second):
		t.Fatal("the holder did not notice that its lock's session ended")
	}
	second.Release()
	third, err := postgres.LockServer(ctx, url, started.Add(3*time.Minute), time.Second)
	if err != nil {
		t.Fatalf("LockServer after the holder's session died: %v", err)
	}
	third.Release()
}
