package publish_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/theupdateframework/go-tuf/v2/metadata"

	"hallmark.dev/hallmark/layout"
	"hallmark.dev/hallmark/publish"
	"hallmark.dev/hallmark/store"
	"hallmark.dev/hallmark/tufmeta"
)

// alteredState serves one role version with other content than was
// committed, as a database changed behind the server's back would.
type alteredState struct {
	store.State
	shard, role string
	version     int64
	data        []byte
}

func (a *alteredState) RoleVersion(ctx context.Context, shard, role string, v int64) (store.RoleFile, error) {
	rf, err := a.State.RoleVersion(ctx, shard, role, v)
	if err == nil && shard == a.shard && role == a.role && v == a.version {
		rf.Data = a.data
	}
	return rf, err
}

func (a *alteredState) Role(ctx context.Context, shard, role string) (store.RoleFile, error) {
	rf, err := a.State.Role(ctx, shard, role)
	if err == nil && shard == a.shard && role == a.role && rf.Version == a.version {
		rf.Data = a.data
	}
	return rf, err
}

// A repair writes from the store only roles that verify against their
// delegating roles: rows changed in the database are not published by the
// server itself.
func TestRepairPublishesNothingTheStoreAltered(t *testing.T) {
	r := newRepo(t)
	r.mustAccept(createChange(t, "demo", alice, r.clock.Now()))
	shard := layout.ShardOf("demo", shards)
	role := layout.ReleasesRole("demo")
	path := layout.MetadataBlobPath(shard, layout.MetadataFile(role, 1))
	stored, err := r.state.RoleVersion(ctx, shard, role, 1)
	if err != nil {
		t.Fatal(err)
	}
	md, err := tufmeta.Decode[metadata.TargetsType](stored.Data)
	if err != nil {
		t.Fatal(err)
	}
	md.Signed.Expires = md.Signed.Expires.Add(time.Hour) // signatures no longer cover it
	altered, err := tufmeta.Encode(md)
	if err != nil {
		t.Fatal(err)
	}

	if err := r.blobs.Delete(ctx, path); err != nil {
		t.Fatal(err)
	}
	r.restartPublisher(func(c *publish.Config) {
		c.State = &alteredState{State: r.state, shard: shard, role: role, version: 1, data: altered}
	})
	_, err = r.pub.Repair(ctx)
	if err == nil || !strings.Contains(err.Error(), "does not verify, so it was not published") {
		t.Fatalf("Repair with an altered row = %v; want a refusal", err)
	}
	if ok, _ := r.blobs.Exists(ctx, path); ok {
		t.Fatal("the altered role was published")
	}

	// The genuine row is repaired as before.
	r.restartPublisher()
	if n, err := r.pub.Repair(ctx); err != nil || n != 1 {
		t.Fatalf("Repair of the genuine row = %d, %v; want 1 file repaired", n, err)
	}
	r.checkShardServed(shard)
}
