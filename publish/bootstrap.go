package publish

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/theupdateframework/go-tuf/v2/metadata"

	"hallmark.dev/hallmark/ceremony"
	"hallmark.dev/hallmark/layout"
	"hallmark.dev/hallmark/store"
	"hallmark.dev/hallmark/trust"
	"hallmark.dev/hallmark/tufmeta"
)

// Initialized reports whether the repository's shards have been published.
func (p *Publisher) Initialized(ctx context.Context) (bool, error) {
	_, err := p.cfg.State.Role(ctx, layout.ShardIDs(p.cfg.Shards)[0], layout.RoleTimestamp)
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}

// Bootstrap publishes a new repository: each shard's offline metadata from
// the ceremony, plus its first new bin, snapshot and timestamp, signed with
// the online keys. Everything commits in one transaction.
func (p *Publisher) Bootstrap(ctx context.Context, shards []ceremony.Shard, tf *trust.File) error {
	now := p.cfg.Now()
	pol := p.Policy()
	var pub store.Publication
	type tsWrite struct {
		shard string
		data  []byte
	}
	var stamps []tsWrite
	put := func(shard, role string, version int64, expires time.Time, data []byte) error {
		pub.Roles = append(pub.Roles, store.RoleFile{Shard: shard, Role: role, Version: version, Expires: expires, Data: data})
		if role == layout.RoleTimestamp {
			stamps = append(stamps, tsWrite{shard, data})
		} else {
			pub.Written = append(pub.Written, store.RoleRef{Shard: shard, Role: role, Version: version})
		}
		return nil
	}
	for _, sh := range shards {
		id := sh.ID
		newBin := metadata.Targets(pol.ExpiresAt(layout.NewRole(id), now))
		trust.SetIdentity(&newBin.Signed.UnrecognizedFields, trust.Identity{Shard: id, Shards: p.cfg.Shards})
		nk, err := p.cfg.Keys(id, ceremony.OnlineNew)
		if err != nil {
			return err
		}
		if err := tufmeta.Sign(newBin, nk); err != nil {
			return err
		}
		snap := metadata.Snapshot(pol.ExpiresAt(layout.RoleSnapshot, now))
		snap.Signed.Meta = map[string]*metadata.MetaFiles{
			layout.RoleTargets + ".json":     metadata.MetaFile(1),
			layout.ClaimedRole(id) + ".json": metadata.MetaFile(1),
			layout.NewRole(id) + ".json":     metadata.MetaFile(1),
		}
		snapData, err := p.signEncode(id, snap)
		if err != nil {
			return err
		}
		ts := metadata.Timestamp(pol.ExpiresAt(layout.RoleTimestamp, now))
		sum := sha256.Sum256(snapData)
		ts.Signed.Meta = map[string]*metadata.MetaFiles{"snapshot.json": {Version: 1, Length: int64(len(snapData)), Hashes: metadata.Hashes{"sha256": sum[:]}}}
		tk, err := p.cfg.Keys(id, layout.RoleTimestamp)
		if err != nil {
			return err
		}
		if err := tufmeta.Sign(ts, tk); err != nil {
			return err
		}
		for _, r := range []struct {
			role string
			enc  func() ([]byte, error)
			exp  time.Time
		}{
			{layout.RoleRoot, func() ([]byte, error) { return tufmeta.Encode(sh.Root) }, sh.Root.Signed.Expires},
			{layout.RoleTargets, func() ([]byte, error) { return tufmeta.Encode(sh.Targets) }, sh.Targets.Signed.Expires},
			{layout.ClaimedRole(id), func() ([]byte, error) { return tufmeta.Encode(sh.Claimed) }, sh.Claimed.Signed.Expires},
			{layout.NewRole(id), func() ([]byte, error) { return tufmeta.Encode(newBin) }, newBin.Signed.Expires},
			{layout.RoleSnapshot, func() ([]byte, error) { return snapData, nil }, snap.Signed.Expires},
			{layout.RoleTimestamp, func() ([]byte, error) { return tufmeta.Encode(ts) }, ts.Signed.Expires},
		} {
			data, err := r.enc()
			if err != nil {
				return err
			}
			if err := put(id, r.role, 1, r.exp, data); err != nil {
				return err
			}
		}
	}
	tfData, err := jsonIndent(tf)
	if err != nil {
		return err
	}
	if err := p.cfg.Blobs.Put(ctx, layout.TrustFile, bytes.NewReader(tfData)); err != nil {
		return err
	}
	if err := p.cfg.State.Commit(ctx, pub); err != nil {
		return fmt.Errorf("failed to record the initial metadata: %w", err)
	}
	// As in every publish: versioned files once committed, timestamps last.
	for _, r := range pub.Roles {
		if r.Role == layout.RoleTimestamp {
			continue
		}
		if err := p.cfg.Blobs.Put(ctx, layout.MetadataBlobPath(r.Shard, layout.MetadataFile(r.Role, r.Version)), bytes.NewReader(r.Data)); err != nil {
			return err
		}
	}
	for _, s := range stamps {
		// A shard whose witnesses cannot co-sign yet (they may start after
		// the server) is behind, and caught up when they answer.
		p.serveTimestamp(ctx, s.shard, s.data)
	}
	return nil
}

func (p *Publisher) signEncode(shard string, snap *tufmeta.Snapshot) ([]byte, error) {
	k, err := p.cfg.Keys(shard, layout.RoleSnapshot)
	if err != nil {
		return nil, err
	}
	return tufmeta.SignEncode(snap, k)
}

// Repair makes the served files agree with the store after a crash: each
// shard's timestamp.json is rewritten from the store when it differs (a
// publish that committed but did not write its timestamp), and the
// current snapshot file is rewritten if it is missing.
//
// Each shard is repaired through its publishing loop, so a repair never
// writes a timestamp older than one the loop is publishing. A timestamp
// that its witnesses cannot co-sign yet leaves the shard behind (see
// Behind), which is not an error here.
func (p *Publisher) Repair(ctx context.Context) (repaired int, err error) {
	for _, shard := range layout.ShardIDs(p.cfg.Shards) {
		res, err := p.do(ctx, shard, &request{repair: true})
		repaired += res.repaired
		if err != nil {
			return repaired, err
		}
	}
	return repaired, nil
}

// repairShard writes, from the store, the files of the shard's last
// publication that are missing or differ, and its timestamp.json.
func (p *Publisher) repairShard(ctx context.Context, shard string) (repaired int, err error) {
	last, err := p.cfg.State.LastWritten(ctx, shard)
	if err != nil {
		return 0, err
	}
	var files []store.RoleFile
	for _, ref := range last {
		rf, err := p.cfg.State.RoleVersion(ctx, ref.Shard, ref.Role, ref.Version)
		if err != nil {
			return repaired, fmt.Errorf("shard %s %s v%d: %w", ref.Shard, ref.Role, ref.Version, err)
		}
		files = append(files, rf)
	}
	snap, err := p.cfg.State.Role(ctx, shard, layout.RoleSnapshot)
	if err != nil {
		return repaired, fmt.Errorf("shard %s %s: %w", shard, layout.RoleSnapshot, err)
	}
	files = append(files, snap)
	ts, err := p.cfg.State.Role(ctx, shard, layout.RoleTimestamp)
	if err != nil {
		return repaired, fmt.Errorf("shard %s %s: %w", shard, layout.RoleTimestamp, err)
	}
	defer func() {
		if err != nil {
			return
		}
		// The timestamp last, co-signed by the witnesses when the root
		// names them; if they cannot sign yet the shard stays behind.
		ok, cerr := p.servedIsCurrent(ctx, shard, ts.Data)
		if cerr != nil {
			err = cerr
			return
		}
		if !ok {
			if err = p.verifyStored(ctx, shard, ts); err != nil {
				return
			}
		}
		if !ok && p.serveTimestamp(ctx, shard, ts.Data) == nil {
			p.cfg.Log.Info("repaired published file", "path", layout.MetadataBlobPath(shard, layout.MetadataFile(layout.RoleTimestamp, 0)))
			repaired++
		}
	}()
	for _, rf := range files {
		path := layout.MetadataBlobPath(rf.Shard, layout.MetadataFile(rf.Role, rf.Version))
		same, err := p.blobEquals(ctx, path, rf.Data)
		if err != nil {
			return repaired, err
		}
		if same {
			continue
		}
		if err := p.verifyStored(ctx, shard, rf); err != nil {
			return repaired, err
		}
		if err := p.cfg.Blobs.Put(ctx, path, bytes.NewReader(rf.Data)); err != nil {
			return repaired, err
		}
		p.cfg.Log.Info("repaired published file", "path", path)
		repaired++
	}
	return repaired, nil
}

func (p *Publisher) blobEquals(ctx context.Context, path string, want []byte) (bool, error) {
	b, err := p.cfg.Blobs.Open(ctx, path)
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	defer b.Close()
	got, err := io.ReadAll(io.LimitReader(b, int64(len(want))+1))
	return err == nil && bytes.Equal(got, want), err
}

// RenewAll asks every shard to renew online metadata inside its signing
// period, and returns how many shards published.
func (p *Publisher) RenewAll(ctx context.Context) (int, error) {
	n := 0
	for _, shard := range layout.ShardIDs(p.cfg.Shards) {
		ok, err := p.Renew(ctx, shard)
		if err != nil {
			return n, err
		}
		if ok {
			n++
		}
	}
	return n, nil
}

func jsonIndent(v any) ([]byte, error) { return json.MarshalIndent(v, "", "  ") }

// RunRenewal renews online metadata at start and then every interval, until
// ctx is done. Errors are logged and retried at the next tick.
func (p *Publisher) RunRenewal(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if _, err := p.Repair(ctx); err != nil && ctx.Err() == nil {
			p.cfg.Log.Error("repair failed", "err", err)
			p.noteError(err)
		}
		n, err := p.RenewAll(ctx)
		switch {
		case err != nil && ctx.Err() == nil:
			p.cfg.Log.Error("online renewal failed", "err", err)
			p.noteError(err)
		case n > 0:
			p.cfg.Log.Info("renewed online metadata", "shards", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
