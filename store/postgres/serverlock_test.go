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

// Any number of replicas join a database; a standby is refused, naming
// the latest replica to start, while one runs, and joins once none does.
func TestServerLockReplicasJoinAndStandbyWaits(t *testing.T) {
	url := migrated(t)
	started := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
	first, err := postgres.LockServer(ctx, url, started, 50*time.Millisecond, postgres.Replica)
	if err != nil {
		t.Fatal(err)
	}
	second, err := postgres.LockServer(ctx, url, started.Add(time.Minute), 50*time.Millisecond, postgres.Replica)
	if err != nil {
		t.Fatalf("a second replica was refused: %v", err)
	}
	_, err = postgres.LockServer(ctx, url, started.Add(2*time.Minute), time.Second, postgres.Standby)
	var held *postgres.HeldError
	if !errors.As(err, &held) {
		t.Fatalf("standby LockServer: %v; want a HeldError", err)
	}
	host, _ := os.Hostname()
	if held.Holder.PID != os.Getpid() || held.Holder.Host != host || !held.Holder.Started.Equal(started.Add(time.Minute)) {
		t.Errorf("holder = %+v", held.Holder)
	}
	if !strings.Contains(err.Error(), "process "+strconv.Itoa(os.Getpid())+" on host "+host+", started 2026-12-03T10:01:00Z") {
		t.Errorf("refusal does not name the holder: %v", err)
	}
	first.Release()
	if _, err := postgres.LockServer(ctx, url, started, time.Second, postgres.Standby); err == nil {
		t.Fatal("a standby started while a replica still runs")
	}
	second.Release()
	standby, err := postgres.LockServer(ctx, url, started.Add(3*time.Minute), time.Second, postgres.Standby)
	if err != nil {
		t.Fatalf("standby LockServer with no replica running: %v", err)
	}
	// Once started, a standby is a replica like the others: more join.
	third, err := postgres.LockServer(ctx, url, started.Add(4*time.Minute), time.Second, postgres.Replica)
	if err != nil {
		t.Fatalf("a replica beside a started standby: %v", err)
	}
	third.Release()
	standby.Release()

	// A server whose blobs are its own runs alone: it is refused beside a
	// replica, and refuses replicas and standbys beside it.
	alone, err := postgres.LockServer(ctx, url, started, time.Second, postgres.Alone)
	if err != nil {
		t.Fatalf("a server alone on a free database: %v", err)
	}
	for _, mode := range []postgres.LockMode{postgres.Replica, postgres.Standby, postgres.Alone} {
		if _, err := postgres.LockServer(ctx, url, started, time.Second, mode); !errors.As(err, &held) {
			t.Errorf("mode %d beside a server alone: %v; want a HeldError", mode, err)
		}
	}
	alone.Release()
	replica, err := postgres.LockServer(ctx, url, started, time.Second, postgres.Replica)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := postgres.LockServer(ctx, url, started, time.Second, postgres.Alone); !errors.As(err, &held) {
		t.Errorf("a server alone beside a replica: %v; want a HeldError", err)
	}
	replica.Release()
}

// A shard slot has one holder at a time; it is free again when the
// holder's session ends, whether released or killed (and then the holder
// learns that it lost its leases).
func TestShardLeaseHasOneHolder(t *testing.T) {
	url := migrated(t)
	now := time.Now()
	a, err := postgres.LockServer(ctx, url, now, 50*time.Millisecond, postgres.Replica)
	if err != nil {
		t.Fatal(err)
	}
	b, err := postgres.LockServer(ctx, url, now, 50*time.Millisecond, postgres.Replica)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Release()
	for _, step := range []struct {
		lock *postgres.Lock
		slot int
		want bool
	}{
		{a, 3, true}, {a, 3, true}, {b, 3, false}, {b, 4, true}, {a, 4, false},
	} {
		got, err := step.lock.TryShard(ctx, step.slot)
		if err != nil || got != step.want {
			t.Fatalf("TryShard(%d) = %v, %v; want %v", step.slot, got, err, step.want)
		}
	}
	select {
	case <-a.Lost():
		t.Fatal("a held lock reports itself lost")
	case <-time.After(200 * time.Millisecond):
	}
	// a's session dies (kill -9 of its process, a network cut).
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `SELECT pg_terminate_backend(pid) FROM pg_locks
		WHERE locktype = 'advisory' AND granted AND objsubid = 2 AND objid = 3`); err != nil {
		t.Fatal(err)
	}
	select {
	case <-a.Lost():
	case <-time.After(5 * time.Second):
		t.Fatal("the holder did not notice that its session ended")
	}
	a.Release()
	if got, err := b.TryShard(ctx, 3); err != nil || !got {
		t.Fatalf("the slot of a dead holder: TryShard = %v, %v; want it free", got, err)
	}
}
