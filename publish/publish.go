// Package publish is the one writer of a Hallmark repository's online
// metadata. Each shard has one publishing loop; accepted changes queue to it
// and are published in batches (group commit): per batch, one new snapshot
// and one timestamp for the shard, however many changes it holds.
//
// Every proposal is validated inside the loop against the shard's current
// published state (package validation), so two changes to the same role in
// one batch are ordered and the second must build on the first.
//
// Order of writes, so a crash at any point leaves the published repository
// valid: target files (content-addressed), then the state store commit,
// which records the versioned files it makes current, then those versioned
// metadata files, then timestamp.json, the only file that is overwritten.
// Until timestamp.json changes, clients see the previous state. Repair (at
// start, at every renewal tick, and before a shard's next publication when
// a write failed) writes from the store whatever a publish did not finish.
package publish

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sync"
	"time"

	"hallmark.dev/hallmark/layout"
	"hallmark.dev/hallmark/signing"
	"hallmark.dev/hallmark/store"
	"hallmark.dev/hallmark/tufmeta"
	"hallmark.dev/hallmark/validation"
	"hallmark.dev/hallmark/witness"
)

// OnlineKeys returns the online signing key of a role ("timestamp",
// "snapshot", "new") of a shard.
type OnlineKeys func(shard, role string) (*signing.Key, error)

// Config configures a Publisher.
type Config struct {
	State store.State
	Blobs store.Blobs
	Keys  OnlineKeys
	// NextKeys, during an online key rotation, derives the next online
	// keys: the publisher signs with whichever key the root (or targets)
	// in force names.
	NextKeys OnlineKeys
	Policy   layout.Policy
	Shards   int
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	Log *slog.Logger
	// MaxBatch bounds the changes published together (default 256).
	MaxBatch int
	// MaxNewBin bounds the encoded size of a shard's new-projects bin; a
	// creation that would pass it is refused (default: a margin under
	// tufmeta.MaxRoleSize, which every client reads).
	MaxNewBin int
	// Witnesses co-signs the timestamps of shards whose root names
	// witnesses; it may be nil when no root does.
	Witnesses *witness.Pool
	// CatchUp is how often shards whose timestamp waits for witnesses are
	// retried (default 2s).
	CatchUp time.Duration
	// Router, when several processes share the state store, says which one
	// publishes each shard; nil when this process publishes every shard.
	Router Router
}

// Router chooses, among the processes sharing one state store, the one
// publishing each shard, and carries requests to it.
type Router interface {
	// Hold reports whether this process publishes shard, taking the shard
	// when no process does. fresh is true the first time it reports a
	// shard held: the shard's last publication, by another process, may
	// have left files unwritten.
	Hold(ctx context.Context, shard string) (held, fresh bool, err error)
	// Forward hands a change to the process publishing shard and waits
	// for its result.
	Forward(ctx context.Context, shard string, f Forwarded) (Result, error)
}

// Forwarded is a change that reaches the shard's publisher through a
// Router: a maintainer's change or a ceremony's.
type Forwarded struct {
	Change  *Change
	Offline *Offline
}

// Publisher validates and publishes changes, one loop per shard.
type Publisher struct {
	cfg     Config
	mu      sync.Mutex
	queues  map[string]chan *request
	ctx     context.Context
	wg      sync.WaitGroup
	stats   Stats
	dirtyMu sync.Mutex
	dirty   map[string]bool
	polMu   sync.RWMutex
	pol     layout.Policy
	cache   roleCache
	view    *stateView
	order   sync.Map // shard → snapshotOrder
	indexes indexCache
	behind  behind
	rootsMu sync.Mutex
	roots   map[string][][]byte // shard → every root version, oldest first
	// rootDecoded is the newest of roots[shard], decoded.
	rootDecoded map[string]*tufmeta.Root
}

// Stats are counters for /metrics.
type Stats struct {
	mu                           sync.Mutex
	Batches, Published, Rejected int64
	Renewals                     int64
	LastRenewal                  time.Time
	LastError                    string
	LastErrorTime                time.Time
}

// New returns a publisher. Its loops run until ctx is done.
func New(ctx context.Context, cfg Config) *Publisher {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.MaxBatch <= 0 {
		cfg.MaxBatch = 256
	}
	if cfg.MaxNewBin <= 0 || cfg.MaxNewBin > newBinLimit {
		cfg.MaxNewBin = newBinLimit
	}
	if cfg.CatchUp <= 0 {
		cfg.CatchUp = 2 * time.Second
	}
	p := &Publisher{cfg: cfg, queues: map[string]chan *request{}, ctx: ctx, view: newStateView(cfg.State, cfg.Shards)}
	go p.catchUp(ctx, cfg.CatchUp)
	return p
}

// Wait blocks until every shard loop has stopped (after ctx is done).
func (p *Publisher) Wait() { p.wg.Wait() }

// Snapshot returns a copy of the counters.
func (p *Publisher) Snapshot() (batches, published, rejected, renewals int64, lastRenewal time.Time, lastErr string, lastErrTime time.Time) {
	s := &p.stats
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.Batches, s.Published, s.Rejected, s.Renewals, s.LastRenewal, s.LastError, s.LastErrorTime
}

func (p *Publisher) noteError(err error) {
	p.stats.mu.Lock()
	p.stats.LastError, p.stats.LastErrorTime = err.Error(), p.cfg.Now()
	p.stats.mu.Unlock()
}

// Staged is an uploaded file waiting in local storage, already hashed.
type Staged struct {
	Open   func() (io.ReadCloser, error)
	SHA256 string
	Length int64
}

// Change is one proposed write.
type Change struct {
	Project string // normalized name
	// Create registers a new project: Display is the name as typed, Owners
	// the owner keys and threshold its bin delegation will name.
	Create  bool
	Display string
	Owners  tufmeta.Delegation
	// OwnersRole and ReleasesRole are the proposed roles; either may be nil
	// on an update.
	OwnersRole   *tufmeta.Targets
	ReleasesRole *tufmeta.Targets
	// Files are the uploaded target files by target path.
	Files map[string]Staged
	// Index is the content of the proposed project index, when it changed.
	Index []byte
	// index is Index as validation parsed it.
	index *layout.Index
}

// Result is the outcome of a change.
type Result struct {
	Outcome validation.Outcome
	// Reason explains a rejection; it may be a *validation.Conflict.
	Reason error
	Sigs   tufmeta.SigCount
	Shard  string
	// SnapshotVersion is the shard snapshot that contains the change.
	SnapshotVersion int64
	// Waiting, for a published change, says why clients cannot see it yet
	// (its timestamp waits for witnesses); empty once it is served.
	Waiting string

	repaired int // files a repair request rewrote
}

type request struct {
	ctx     context.Context
	change  *Change
	offline *Offline
	renew   bool
	repair  bool // serve what the shard's last publication did not
	done    chan Result
	err     error
}

// ErrStopped is returned when the publisher is shutting down.
var ErrStopped = errors.New("publisher is stopping")

// Submit queues a change to its shard and waits until it is published or
// refused. An error means the change could not be processed (the store
// failed); the outcome is then unknown to the caller only if ctx ended.
func (p *Publisher) Submit(ctx context.Context, c *Change) (Result, error) {
	return p.do(ctx, layout.ShardOf(c.Project, p.cfg.Shards), &request{change: c})
}

// Local publishes a change forwarded by another process, on this
// process's loop of the shard, which the Router says this process holds.
func (p *Publisher) Local(ctx context.Context, shard string, f Forwarded) (Result, error) {
	if rt := p.cfg.Router; rt != nil {
		held, fresh, err := rt.Hold(ctx, shard)
		if err != nil {
			return Result{}, err
		}
		if !held {
			return Result{}, fmt.Errorf("shard %s is published by another process", shard)
		}
		if fresh {
			p.setDirty(shard, true)
		}
	}
	return p.local(ctx, shard, &request{change: f.Change, offline: f.Offline})
}

// do hands a request to the shard's publisher: this process's loop, or
// through the Router the process that holds the shard. Renewals and
// repairs are the holder's business only.
func (p *Publisher) do(ctx context.Context, shard string, r *request) (Result, error) {
	if rt := p.cfg.Router; rt != nil {
		held, fresh, err := rt.Hold(ctx, shard)
		if err != nil {
			return Result{}, err
		}
		if fresh {
			p.setDirty(shard, true) // repaired before its next batch
		}
		if !held {
			if r.renew || r.repair {
				return Result{Shard: shard}, nil
			}
			return rt.Forward(ctx, shard, Forwarded{Change: r.change, Offline: r.offline})
		}
	}
	return p.local(ctx, shard, r)
}

// local queues a request to this process's loop of a shard and waits for
// its result.
func (p *Publisher) local(ctx context.Context, shard string, r *request) (Result, error) {
	r.ctx, r.done = ctx, make(chan Result, 1)
	select {
	case p.queue(shard) <- r:
	case <-ctx.Done():
		return Result{}, ctx.Err()
	case <-p.ctx.Done():
		return Result{}, ErrStopped
	}
	select {
	case res := <-r.done:
		return res, r.err
	case <-p.ctx.Done():
		return Result{}, ErrStopped
	}
}

// Renew re-signs the online metadata of a shard that is inside its signing
// period, through the shard's loop. It reports whether anything was renewed.
func (p *Publisher) Renew(ctx context.Context, shard string) (bool, error) {
	res, err := p.do(ctx, shard, &request{renew: true})
	return res.SnapshotVersion > 0, err
}

func (p *Publisher) queue(shard string) chan *request {
	p.mu.Lock()
	defer p.mu.Unlock()
	q, ok := p.queues[shard]
	if !ok {
		q = make(chan *request, 1024)
		p.queues[shard] = q
		p.wg.Add(1)
		go p.loop(shard, q)
	}
	return q
}

func (p *Publisher) loop(shard string, q chan *request) {
	defer p.wg.Done()
	for {
		var batch []*request
		select {
		case r := <-q:
			batch = append(batch, r)
		case <-p.ctx.Done():
			return
		}
	drain:
		for len(batch) < p.cfg.MaxBatch {
			select {
			case r := <-q:
				batch = append(batch, r)
			default:
				break drain
			}
		}
		p.publishBatch(shard, batch)
	}
}

func (p *Publisher) publishBatch(shard string, batch []*request) {
	// The batch runs to completion even if one caller gives up: others wait.
	ctx := context.WithoutCancel(p.ctx)
	// A publication whose files could not all be written is finished
	// before anything else is published in the shard: the store remembers
	// only the last publication's files.
	if !slices.ContainsFunc(batch, func(r *request) bool { return !r.repair }) {
		if p.isDirty(shard) {
			p.view.forget(shard)
		}
		n, err := p.repairShard(ctx, shard)
		if err == nil {
			p.setDirty(shard, false)
		}
		for _, r := range batch {
			r.err = err
			r.done <- Result{Shard: shard, repaired: n}
			n = 0
		}
		return
	}
	batch = slices.DeleteFunc(batch, func(r *request) bool {
		if r.repair {
			r.done <- Result{Shard: shard} // the batch repairs first anyway
		}
		return r.repair
	})
	if p.isDirty(shard) {
		// The store may hold what this loop did not commit (a commit whose
		// outcome is unknown, another process's publications).
		p.view.forget(shard)
		if _, err := p.repairShard(ctx, shard); err != nil {
			p.noteError(err)
			p.fail(batch, fmt.Errorf("shard %s: the last publication's files could not be written yet: %w", shard, err))
			return
		}
		p.setDirty(shard, false)
	}
	// A batch of renewals only (the periodic pass over every shard) keeps
	// nothing in the role cache: it would fill it with every shard's roles
	// and push out those of the shards that publish.
	renewalsOnly := !slices.ContainsFunc(batch, func(r *request) bool { return !r.renew })
	b, err := p.newBatch(ctx, shard, !renewalsOnly)
	if err != nil {
		p.fail(batch, fmt.Errorf("failed to load shard %s: %w", shard, err))
		return
	}
	results := make([]Result, len(batch))
	renew := false
	for i, r := range batch {
		if r.renew {
			renew = true
			continue
		}
		if r.offline != nil {
			results[i] = b.applyOffline(ctx, r.offline)
		} else {
			results[i] = b.apply(ctx, r.change)
		}
		results[i].Shard = shard
	}
	version, err := b.publish(ctx, renew)
	if err != nil {
		p.cfg.Log.Error("publish failed", "shard", shard, "err", err)
		p.noteError(err)
		p.fail(batch, err)
		return
	}
	p.stats.mu.Lock()
	if version > 0 {
		p.stats.Batches++
	}
	for i, r := range batch {
		switch {
		case r.renew:
			if b.renewed {
				p.stats.Renewals++
				p.stats.LastRenewal = p.cfg.Now()
				results[i].SnapshotVersion = version
			}
		case results[i].Outcome == validation.Accept:
			p.stats.Published++
			results[i].SnapshotVersion = version
			results[i].Waiting = b.waiting
		case results[i].Outcome == validation.Reject:
			p.stats.Rejected++
		}
	}
	p.stats.mu.Unlock()
	for i, r := range batch {
		r.done <- results[i]
	}
}

func (p *Publisher) fail(batch []*request, err error) {
	for _, r := range batch {
		r.err = err
		r.done <- Result{Outcome: validation.Reject, Reason: err}
	}
}

// Policy returns the expiry policy in force.
func (p *Publisher) Policy() layout.Policy {
	p.polMu.RLock()
	defer p.polMu.RUnlock()
	if p.pol == (layout.Policy{}) {
		return p.cfg.Policy
	}
	return p.pol
}

// SetPolicy changes the expiry policy, as the admins' signed settings say.
func (p *Publisher) SetPolicy(pol layout.Policy) {
	p.polMu.Lock()
	p.pol = pol
	p.polMu.Unlock()
}

// isDirty reports whether a shard's last publication left files unwritten.
func (p *Publisher) isDirty(shard string) bool {
	p.dirtyMu.Lock()
	defer p.dirtyMu.Unlock()
	return p.dirty[shard]
}

func (p *Publisher) setDirty(shard string, v bool) {
	p.dirtyMu.Lock()
	defer p.dirtyMu.Unlock()
	if p.dirty == nil {
		p.dirty = map[string]bool{}
	}
	p.dirty[shard] = v
}
