package server

import (
	"context"
	"io"
	"log/slog"
	"os"
	"testing"
	"time"

	"hallmark.dev/hallmark/internal/pgtest"
	"hallmark.dev/hallmark/store/blobdir"
	"hallmark.dev/hallmark/store/postgres"
)

func TestMain(m *testing.M) {
	code := m.Run()
	pgtest.StopShared() // the cluster TestRouterReportsTakenShardsFreshOnce started, if any
	os.Exit(code)
}

// A replica that takes over a shard must repair the shard's last
// publication (the dead holder may have committed it without writing its
// files) before it publishes there: the publisher learns that a shard is
// new to it through Hold, however the router came to take it (a forwarded
// request waiting, a write of its own). Found by the crash trial: a lease
// taken by the router's own loop once hid the takeover from the publisher,
// which then published on top of files that were never written.
func TestRouterReportsTakenShardsFreshOnce(t *testing.T) {
	ctx := context.Background()
	url := pgtest.NewDatabase(t)
	if _, _, err := postgres.Migrate(ctx, url); err != nil {
		t.Fatal(err)
	}
	db, err := postgres.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	blobs, err := blobdir.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	lock := func() *postgres.Lock {
		l, err := postgres.LockServer(ctx, url, time.Now(), time.Second, postgres.Replica)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(l.Release)
		return l
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	a := newRouter(db, lock(), blobs, 16, log)
	b := newRouter(db, lock(), blobs, 16, log)

	for _, step := range []struct {
		desc        string
		rt          *router
		shard       string
		take        bool // the router's own loop, not the publisher
		held, fresh bool
	}{
		{"a's loop takes shard 3", a, "3", true, true, false},
		{"a's publisher learns shard 3 is new", a, "3", false, true, true},
		{"then it is not new any more", a, "3", false, true, false},
		{"b cannot take shard 3", b, "3", false, false, false},
		{"b's publisher takes shard 4", b, "4", false, true, true},
		{"a cannot take shard 4", a, "4", true, false, false},
	} {
		var held, fresh bool
		var err error
		if step.take {
			held, err = step.rt.take(ctx, step.shard)
		} else {
			held, fresh, err = step.rt.Hold(ctx, step.shard)
		}
		if err != nil || held != step.held || fresh != step.fresh {
			t.Fatalf("%s: held %v fresh %v err %v; want held %v fresh %v", step.desc, held, fresh, err, step.held, step.fresh)
		}
	}
}
