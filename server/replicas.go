package server

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"sync"
	"time"

	"hallmark.dev/hallmark/layout"
	"hallmark.dev/hallmark/publish"
	"hallmark.dev/hallmark/store"
	"hallmark.dev/hallmark/store/postgres"
)

// Several replicas on one PostgreSQL database and one bucket: every replica
// accepts and validates writes; each shard is published by one replica at
// a time, the holder of its lease (a PostgreSQL advisory lock on the
// replica's own session, see postgres.Lock.TryShard). A replica takes a
// shard's lease the first time it has something for a shard nobody holds;
// a write for a shard another replica holds is queued in the database
// (postgres.DB.Forward) with its files in the bucket, the holder publishes
// it in its next batch and writes the result back, and the replica that
// accepted the write answers its client with it. When a holder dies its
// session ends and its leases are free: the next replica with a write (or
// a forwarded request waiting) for one of its shards takes the lease,
// repairs the shard's last publication first, and answers requests the
// dead holder had taken with "outcome unknown" (it may have published
// them).

// replicaPoll is how often a replica looks for forwarded requests and
// answers when no notification came (a notification lost with a
// connection): it bounds how long a takeover waits.
const replicaPoll = 500 * time.Millisecond

// router is the publish.Router of a replica.
type router struct {
	db     *postgres.DB
	lock   *postgres.Lock
	blobs  store.Blobs
	shards int
	me     string
	log    *slog.Logger
	pub    *publish.Publisher // set by start

	mu      sync.Mutex
	slots   map[int]bool    // leases held
	fresh   map[string]bool // shards held but not yet reported held
	waiters map[int64]chan struct{}
	kick    chan struct{}
}

func newRouter(db *postgres.DB, lock *postgres.Lock, blobs store.Blobs, shards int, log *slog.Logger) *router {
	host, _ := os.Hostname()
	var rnd [4]byte
	rand.Read(rnd[:])
	return &router{db: db, lock: lock, blobs: blobs, shards: shards, log: log,
		me:    fmt.Sprintf("%s/%d/%s", host, os.Getpid(), hex.EncodeToString(rnd[:])),
		slots: map[int]bool{}, fresh: map[string]bool{}, waiters: map[int64]chan struct{}{}, kick: make(chan struct{}, 1)}
}

// slot is the lease a shard is published under.
func slot(shard string) int {
	n, _ := strconv.ParseUint(shard, 16, 32)
	return int(n % postgres.ShardSlots)
}

// Hold implements publish.Router.
func (rt *router) Hold(ctx context.Context, shard string) (held, fresh bool, err error) {
	if held, err = rt.take(ctx, shard); !held || err != nil {
		return false, false, err
	}
	rt.mu.Lock()
	defer rt.mu.Unlock()
	fresh = rt.fresh[shard]
	delete(rt.fresh, shard)
	return true, fresh, nil
}

// take reports whether this replica holds a shard's lease, taking it when
// free. A shard taken is fresh until the publisher learns it through Hold
// (and repairs the shard first): the router's own calls leave it fresh.
func (rt *router) take(ctx context.Context, shard string) (bool, error) {
	sl := slot(shard)
	rt.mu.Lock()
	defer rt.mu.Unlock()
	if !rt.slots[sl] {
		ok, err := rt.lock.TryShard(ctx, sl)
		if err != nil || !ok {
			return false, err
		}
		rt.slots[sl] = true
		var mine []string
		for _, s := range layout.ShardIDs(rt.shards) {
			if slot(s) == sl {
				rt.fresh[s] = true
				mine = append(mine, s)
			}
		}
		// Requests the previous holder took and never answered: it died
		// with them, perhaps after publishing them.
		unknown, _ := encodeResult(publish.Result{}, errOutcomeUnknown)
		if n, err := rt.db.AbandonForwarded(ctx, rt.me, mine, unknown); err != nil {
			rt.log.Warn("failed to answer requests of a dead publisher", "err", err)
		} else if n > 0 {
			rt.log.Info("answered requests a dead publisher had taken: outcome unknown", "requests", n)
		}
		rt.log.Info("publishing shards", "slot", sl, "shards", len(mine))
		rt.poke()
	}
	return true, nil
}

// errOutcomeUnknown answers a forwarded request whose publisher died while
// it held it.
var errOutcomeUnknown = errors.New("the replica publishing this shard stopped while it held the change: it may or may not have been published; check with 'hallmark versions' and send it again if it is missing")

func (rt *router) poke() {
	select {
	case rt.kick <- struct{}{}:
	default:
	}
}

// heldShards returns the shards whose lease this replica holds.
func (rt *router) heldShards() []string {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	var out []string
	for _, s := range layout.ShardIDs(rt.shards) {
		if rt.slots[slot(s)] {
			out = append(out, s)
		}
	}
	return out
}

// Forward implements publish.Router.
func (rt *router) Forward(ctx context.Context, shard string, f publish.Forwarded) (publish.Result, error) {
	req, blobs, err := rt.encodeRequest(ctx, f)
	defer func() {
		for _, p := range blobs {
			rt.blobs.Delete(context.WithoutCancel(ctx), p)
		}
	}()
	if err != nil {
		return publish.Result{}, err
	}
	id, err := rt.db.Forward(ctx, shard, req, time.Now())
	if err != nil {
		return publish.Result{}, err
	}
	wake := make(chan struct{}, 1)
	rt.mu.Lock()
	rt.waiters[id] = wake
	rt.mu.Unlock()
	defer func() {
		rt.mu.Lock()
		delete(rt.waiters, id)
		rt.mu.Unlock()
	}()
	t := time.NewTicker(replicaPoll)
	defer t.Stop()
	polled := false
	for {
		res, claimed, ok, err := rt.db.ForwardedResult(context.WithoutCancel(ctx), id)
		if err != nil {
			return publish.Result{}, err
		}
		if ok {
			rt.db.DeleteForwarded(context.WithoutCancel(ctx), id)
			return decodeResult(res)
		}
		if !claimed && polled {
			// Nobody took it yet: its shard may have no publisher (the
			// holder died); take the shard then.
			if held, err := rt.take(ctx, shard); err == nil && held {
				rt.poke()
			}
		}
		select {
		case <-wake:
		case <-t.C:
			polled = true
		case <-ctx.Done():
			if gone, _ := rt.db.WithdrawForwarded(context.WithoutCancel(ctx), id); gone {
				return publish.Result{}, ctx.Err()
			}
			// Taken: the publisher answers soon, and the files must stay
			// until it has read them.
			ctx = context.WithoutCancel(ctx)
		}
	}
}

// run serves the forwarded requests of the shards this replica holds and
// wakes the requests it forwarded when they are answered, until ctx ends.
func (rt *router) run(ctx context.Context, pub *publish.Publisher, url string) {
	rt.pub = pub
	go rt.listen(ctx, url)
	t := time.NewTicker(replicaPoll)
	defer t.Stop()
	clean := time.NewTicker(10 * time.Minute)
	defer clean.Stop()
	for {
		rt.serveOnce(ctx)
		select {
		case <-ctx.Done():
			return
		case <-rt.kick:
		case <-t.C:
		case <-clean.C:
			rt.cleanUp(ctx, time.Now().Add(-time.Hour))
		}
	}
}

// serveOnce takes the free leases of shards with requests waiting, then
// publishes what waits for the shards it holds.
func (rt *router) serveOnce(ctx context.Context) {
	open, err := rt.db.OpenShards(ctx)
	if err != nil {
		if ctx.Err() == nil {
			rt.log.Warn("failed to list forwarded requests", "err", err)
		}
		return
	}
	for _, s := range open {
		if layout.IsShardID(s, rt.shards) {
			rt.take(ctx, s)
		}
	}
	reqs, err := rt.db.ClaimForwarded(ctx, rt.me, rt.heldShards())
	if err != nil {
		if ctx.Err() == nil {
			rt.log.Warn("failed to take forwarded requests", "err", err)
		}
		return
	}
	for _, f := range reqs {
		go rt.publish(context.WithoutCancel(ctx), f)
	}
}

// publish publishes one forwarded request and writes its result.
func (rt *router) publish(ctx context.Context, f postgres.Forwarded) {
	var res publish.Result
	fw, err := rt.decodeRequest(f.Request)
	if err == nil {
		res, err = rt.pub.Local(ctx, f.Shard, fw)
	} else {
		err = fmt.Errorf("malformed forwarded request: %w", err)
	}
	out, eerr := encodeResult(res, err)
	if eerr != nil {
		out, _ = encodeResult(publish.Result{}, fmt.Errorf("failed to encode the result: %w", eerr))
	}
	if err := rt.db.AnswerForwarded(ctx, f.ID, out); err != nil {
		rt.log.Error("failed to answer a forwarded request", "id", f.ID, "err", err)
	}
}

// listen wakes requests when their answers are notified, and the serve
// loop when a request is forwarded. Without it (a failed connection)
// everything still happens at the next poll.
func (rt *router) listen(ctx context.Context, url string) {
	for ctx.Err() == nil {
		l, err := postgres.Listen(ctx, url)
		if err != nil {
			rt.log.Warn("replica notifications unavailable; polling", "err", err)
			select {
			case <-ctx.Done():
				return
			case <-time.After(5 * time.Second):
			}
			continue
		}
		for {
			ch, payload, err := l.Next(ctx)
			if err != nil {
				break
			}
			switch ch {
			case postgres.ChannelAnswered:
				id, _ := strconv.ParseInt(payload, 10, 64)
				rt.mu.Lock()
				w := rt.waiters[id]
				rt.mu.Unlock()
				if w != nil {
					select {
					case w <- struct{}{}:
					default:
					}
				}
			case postgres.ChannelForwarded:
				rt.mu.Lock()
				mine := rt.slots[slot(payload)]
				rt.mu.Unlock()
				if mine {
					rt.poke()
				}
			}
		}
		l.Close()
	}
}

// cleanUp drops requests whose sender died before reading the result,
// with their files.
func (rt *router) cleanUp(ctx context.Context, before time.Time) {
	reqs, err := rt.db.OldForwarded(ctx, before)
	if err != nil {
		rt.log.Warn("failed to drop old forwarded requests", "err", err)
		return
	}
	for _, data := range reqs {
		var req fwdRequest
		if decodeJSON(data, &req) != nil {
			continue
		}
		for _, f := range req.files() {
			rt.blobs.Delete(ctx, f.Blob)
		}
	}
}
