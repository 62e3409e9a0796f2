package publish

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/theupdateframework/go-tuf/v2/metadata"

	"hallmark.dev/hallmark/layout"
	"hallmark.dev/hallmark/store"
	"hallmark.dev/hallmark/tufmeta"
	"hallmark.dev/hallmark/witness"
)

// Witnessing: a shard whose root names witnesses publishes a timestamp only
// once enough of them co-signed it. The store keeps the timestamp as the
// online key signed it; the co-signed form exists only as the served
// timestamp.json. A publication whose timestamp could not be co-signed
// stands (it is committed and its versioned files are written) and its
// shard is "behind": clients see the previous timestamp until a retry, or
// the shard's next publication, gets a new timestamp co-signed.

// behind tracks the shards whose served timestamp is older than the store's.
type behind struct {
	mu     sync.Mutex
	shards map[string]behindShard
}

type behindShard struct {
	Since  time.Time
	Reason string
}

// set marks a shard behind and reports whether it was already.
func (b *behind) set(shard string, since time.Time, reason string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.shards == nil {
		b.shards = map[string]behindShard{}
	}
	old, was := b.shards[shard]
	if was {
		since = old.Since
	}
	b.shards[shard] = behindShard{Since: since, Reason: reason}
	return was
}

// clear marks a shard served and reports whether it was behind.
func (b *behind) clear(shard string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	_, was := b.shards[shard]
	delete(b.shards, shard)
	return was
}

func (b *behind) list() map[string]behindShard {
	b.mu.Lock()
	defer b.mu.Unlock()
	return maps.Clone(b.shards)
}

// Behind lists the shards whose newest publication is not served yet
// (its timestamp waits for witnesses, or could not be written), with
// since when and why.
func (p *Publisher) Behind() map[string]string {
	out := map[string]string{}
	for s, b := range p.behind.list() {
		out[s] = fmt.Sprintf("since %s: %s", b.Since.UTC().Format(time.RFC3339), b.Reason)
	}
	return out
}

// WitnessHealth reports each witness the publisher has asked.
func (p *Publisher) WitnessHealth() []witness.Health {
	if p.cfg.Witnesses == nil {
		return nil
	}
	return p.cfg.Witnesses.Health()
}

// cosign returns the timestamp ts (signed by the online key) with the
// witness signatures the shard's root requires. snap is the snapshot ts
// names, or nil to read it from the store.
// known, when not nil, is the shard's root in force, read by the caller.
func (p *Publisher) cosign(ctx context.Context, shard string, ts, snap []byte, known *shardRoot) ([]byte, error) {
	if known == nil {
		roots, root, err := p.rootChain(ctx, shard)
		if err != nil {
			return nil, err
		}
		known = &shardRoot{roots, root}
	}
	roots, root := known.chain, known.root
	keys, err := tufmeta.SplitTimestamp(root)
	if err != nil {
		return nil, err
	}
	if len(keys.Witnesses) == 0 {
		return ts, nil
	}
	if p.cfg.Witnesses == nil {
		return nil, errors.New("the shard's root names witnesses but this server has no witness client")
	}
	if snap == nil {
		md, err := tufmeta.Decode[metadata.TimestampType](ts)
		if err != nil {
			return nil, err
		}
		rf, err := p.cfg.State.RoleVersion(ctx, shard, layout.RoleSnapshot, md.Signed.Meta["snapshot.json"].Version)
		if err != nil {
			return nil, fmt.Errorf("snapshot named by the timestamp: %w", err)
		}
		snap = rf.Data
	}
	return p.cfg.Witnesses.Cosign(ctx, witness.Job{Shard: shard, Roots: roots, Root: root, Timestamp: ts, Snapshot: snap})
}

// rootChain returns every root of a shard, oldest first, and the newest
// decoded. Roots are immutable per version, so they are kept once read and
// the newest is decoded once per version.
func (p *Publisher) rootChain(ctx context.Context, shard string) ([][]byte, *tufmeta.Root, error) {
	cur, err := p.view.Role(ctx, shard, layout.RoleRoot)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil, fmt.Errorf("shard %s has no root", shard)
	}
	if err != nil {
		return nil, nil, err
	}
	p.rootsMu.Lock()
	chain, decoded := p.roots[shard], p.rootDecoded[shard]
	p.rootsMu.Unlock()
	if decoded != nil && int64(len(chain)) == cur.Version {
		return chain, decoded, nil
	}
	for v := int64(len(chain)) + 1; v <= cur.Version; v++ {
		rf, err := p.cfg.State.RoleVersion(ctx, shard, layout.RoleRoot, v)
		if err != nil {
			return nil, nil, fmt.Errorf("root version %d of shard %s: %w", v, shard, err)
		}
		chain = append(slices.Clip(chain), rf.Data)
	}
	root, err := tufmeta.Decode[metadata.RootType](chain[len(chain)-1])
	if err != nil {
		return nil, nil, err
	}
	p.rootsMu.Lock()
	if p.roots == nil {
		p.roots, p.rootDecoded = map[string][][]byte{}, map[string]*tufmeta.Root{}
	}
	p.roots[shard], p.rootDecoded[shard] = chain, root
	p.rootsMu.Unlock()
	return chain, root, nil
}

// serveTimestamp co-signs a committed timestamp and writes it as the
// shard's timestamp.json. On failure the shard is marked behind and
// retried; the error says why.
func (p *Publisher) serveTimestamp(ctx context.Context, shard string, ts []byte) error {
	full, err := p.cosign(ctx, shard, ts, nil, nil)
	return p.serveCosigned(ctx, shard, full, err)
}

// cosignAsync starts co-signing a committed timestamp; the versioned files
// are written meanwhile, and serveCosigned serves the result.
func (p *Publisher) cosignAsync(ctx context.Context, shard string, ts, snap []byte, known *shardRoot) func() ([]byte, error) {
	type result struct {
		full []byte
		err  error
	}
	c := make(chan result, 1)
	go func() {
		full, err := p.cosign(ctx, shard, ts, snap, known)
		c <- result{full, err}
	}()
	return func() ([]byte, error) {
		r := <-c
		return r.full, r.err
	}
}

// serveCosigned writes a co-signed timestamp as timestamp.json, or marks
// the shard behind when co-signing (err) or the write failed.
func (p *Publisher) serveCosigned(ctx context.Context, shard string, full []byte, err error) error {
	if err == nil {
		err = p.cfg.Blobs.Put(ctx, layout.MetadataBlobPath(shard, layout.MetadataFile(layout.RoleTimestamp, 0)), bytes.NewReader(full))
	}
	return p.noteServed(shard, err)
}

// shardRoot is a shard's chain of roots, oldest first, and the newest
// decoded.
type shardRoot struct {
	chain [][]byte
	root  *tufmeta.Root
}

// rootInForce returns the shard's root chain, or nil when it cannot be
// read (the caller then leaves it to cosign, which reports why).
func (p *Publisher) rootInForce(ctx context.Context, shard string) *shardRoot {
	chain, root, err := p.rootChain(ctx, shard)
	if err != nil {
		return nil
	}
	return &shardRoot{chain, root}
}

// unwitnessed reports whether a root names no witnesses, so its shard's
// timestamps are served as the online key signs them.
func (r *shardRoot) unwitnessed() bool {
	if r == nil {
		return false
	}
	keys, err := tufmeta.SplitTimestamp(r.root)
	return err == nil && len(keys.Witnesses) == 0
}

// noteServed records whether the shard's timestamp.json was written (err
// nil) or not: a shard not served is marked behind and retried.
func (p *Publisher) noteServed(shard string, err error) error {
	if err != nil {
		// Said once when the shard falls behind, not at every retry.
		if !p.behind.set(shard, p.cfg.Now(), err.Error()) {
			p.cfg.Log.Warn("published, but the timestamp is not served yet (retrying)", "shard", shard, "err", err)
		}
		p.noteError(err)
		return err
	}
	if p.behind.clear(shard) {
		p.cfg.Log.Info("shard caught up: its timestamp is served", "shard", shard)
	}
	return nil
}

// servedIsCurrent reports whether the served timestamp.json is the store's
// timestamp (the same signed content; witness signatures may be added).
func (p *Publisher) servedIsCurrent(ctx context.Context, shard string, stored []byte) (bool, error) {
	b, err := p.cfg.Blobs.Open(ctx, layout.MetadataBlobPath(shard, layout.MetadataFile(layout.RoleTimestamp, 0)))
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	defer b.Close()
	served, err := io.ReadAll(io.LimitReader(b, tufmeta.MaxRoleSize))
	if err != nil {
		return false, err
	}
	if bytes.Equal(served, stored) {
		return true, nil
	}
	s, err1 := tufmeta.Decode[metadata.TimestampType](served)
	t, err2 := tufmeta.Decode[metadata.TimestampType](stored)
	if err1 != nil || err2 != nil {
		return false, nil
	}
	if enc, err := tufmeta.Encode(s); err != nil || !bytes.Equal(enc, served) {
		return false, nil // not exactly as this server writes it
	}
	a, err1 := tufmeta.Canonical(s)
	c, err2 := tufmeta.Canonical(t)
	if err1 != nil || err2 != nil || !bytes.Equal(a, c) {
		return false, nil
	}
	// The same timestamp: served only if it carries every signature the
	// root requires (a file left by an older server may lack witnesses').
	_, root, err := p.rootChain(ctx, shard)
	if err != nil {
		return false, err
	}
	d, err := tufmeta.RootDelegation(root, layout.RoleTimestamp)
	if err != nil {
		return false, err
	}
	n, err := tufmeta.Count(s, d)
	return err == nil && n.Met(), err
}

// catchUp retries, through each shard's loop, the shards that are behind,
// every interval until ctx is done.
func (p *Publisher) catchUp(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		for shard := range p.behind.list() {
			if _, err := p.do(ctx, shard, &request{repair: true}); err != nil && ctx.Err() == nil {
				p.cfg.Log.Warn("shard still behind", "shard", shard, "err", err)
			}
		}
	}
}
