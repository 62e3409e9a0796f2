package publish_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/theupdateframework/go-tuf/v2/metadata"

	"hallmark.dev/hallmark/layout"
	"hallmark.dev/hallmark/publish"
	"hallmark.dev/hallmark/signing"
	"hallmark.dev/hallmark/store"
	"hallmark.dev/hallmark/store/blobdir"
	"hallmark.dev/hallmark/tufmeta"
)

// loadTargets decodes the stored current version of a targets role.
func (r *repo) loadTargets(shard, role string) *tufmeta.Targets {
	r.t.Helper()
	rf, err := r.state.Role(ctx, shard, role)
	if err != nil {
		r.t.Fatal(err)
	}
	md, err := tufmeta.Decode[metadata.TargetsType](rf.Data)
	if err != nil {
		r.t.Fatal(err)
	}
	return md
}

// TestRejectedClaimLeavesNewBinIntact: a claim ceremony of two projects of
// one shard, where the second claim is refused (its new-bin delegation
// changed after the admins' tool read it), changes nothing. (It once
// removed the first project from new.<shard> before looking at the second
// and never undid it: the project vanished for every client, and the
// admins could no longer claim it.)
func TestRejectedClaimLeavesNewBinIntact(t *testing.T) {
	r := newRepo(t)
	names := sameShard("pkg-0", 2)
	shard := layout.ShardOf(names[0], shards)
	for _, n := range names {
		r.mustAccept(createChange(t, n, alice, r.clock.Now()))
	}
	newBin := r.loadTargets(shard, layout.NewRole(shard))
	claimed := r.loadTargets(shard, layout.ClaimedRole(shard))

	next := claimed
	next.Signatures = nil
	next.Signed.Version++
	next.Signed.Expires = layout.DefaultPolicy().ExpiresAt(layout.ClaimedRole(shard), r.clock.Now())
	claims := map[string]tufmeta.Delegation{}
	for _, n := range names {
		d, _, err := tufmeta.TargetsDelegation(newBin, layout.OwnersRole(n))
		if err != nil {
			t.Fatal(err)
		}
		tufmeta.SetProjectDelegation(next, n, d)
		claims[n] = d
	}
	// The second project's delegation "changed after the tool read it": the
	// record the tool sends names other owners (bob).
	claims[names[1]] = tufmeta.NewDelegation([]signing.PublicKey{bob.Public()}, 1)
	if err := tufmeta.Sign(next, claimKey); err != nil {
		t.Fatal(err)
	}
	res, err := r.pub.SubmitOffline(ctx, &publish.Offline{Shard: shard, Claimed: next, Claims: claims})
	if err != nil {
		t.Fatal(err)
	}
	if res.Outcome.String() != "rejected" {
		t.Fatalf("ceremony outcome %v, want rejected", res.Outcome)
	}
	after := r.loadTargets(shard, layout.NewRole(shard))
	for _, n := range names {
		if _, _, err := tufmeta.TargetsDelegation(after, layout.OwnersRole(n)); err != nil {
			t.Errorf("after a REFUSED claim ceremony, %s (v%d) no longer delegates %s (it was v%d): %v",
				layout.NewRole(shard), after.Signed.Version, n, newBin.Signed.Version, err)
		}
	}
}

// flakyBlobs fails the writes of paths containing fail while it is set: a
// Put, or the rename that publishes a staged blob (after the commit).
type flakyBlobs struct {
	*blobdir.Dir
	mu   sync.Mutex
	fail string
}

func (f *flakyBlobs) failing(p string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != "" && strings.Contains(p, f.fail) {
		return errors.New("injected blob store failure")
	}
	return nil
}

func (f *flakyBlobs) Put(ctx context.Context, p string, r io.Reader) error {
	if err := f.failing(p); err != nil {
		return err
	}
	return f.Dir.Put(ctx, p, r)
}

func (f *flakyBlobs) PutDeferred(ctx context.Context, p string, r io.Reader) error {
	if err := f.failing(p); err != nil {
		return err
	}
	return f.Dir.PutDeferred(ctx, p, r)
}

func (f *flakyBlobs) Stage(ctx context.Context, p string, r io.Reader) (store.StagedBlob, error) {
	s, err := f.Dir.Stage(ctx, p, r)
	return flakyStaged{s, p, f}, err
}

func (f *flakyBlobs) StageDeferred(ctx context.Context, p string, r io.Reader) (store.StagedBlob, error) {
	s, err := f.Dir.StageDeferred(ctx, p, r)
	return flakyStaged{s, p, f}, err
}

type flakyStaged struct {
	store.StagedBlob
	path string
	f    *flakyBlobs
}

func (s flakyStaged) Publish(ctx context.Context) error {
	if err := s.f.failing(s.path); err != nil {
		s.StagedBlob.Discard()
		return err
	}
	return s.StagedBlob.Publish(ctx)
}

func (f *flakyBlobs) set(s string) { f.mu.Lock(); f.fail = s; f.mu.Unlock() }

// newFlakyRepo is newRepo with a blob store whose writes can be made to fail.
func newFlakyRepo(t *testing.T) (*repo, *flakyBlobs) {
	t.Helper()
	r := newRepo(t)
	fb := &flakyBlobs{Dir: r.blobs}
	r.restartPublisher(func(c *publish.Config) { c.Blobs = fb })
	return r, fb
}

// TestRepairKeepsEarlierPublication: a publication whose versioned metadata
// files failed to be written after the commit is repaired even when
// another change of the shard publishes before Repair runs. (Repair once
// knew only the last publication's files, so the missing file was never
// written and the project could not be read by any client, for good.)
func TestRepairKeepsEarlierPublication(t *testing.T) {
	r, fb := newFlakyRepo(t)
	names := sameShard("pkg-0", 2)
	shard := layout.ShardOf(names[0], shards)
	r.mustAccept(createChange(t, names[0], alice, r.clock.Now()))

	fb.set(layout.ReleasesRole(names[0]) + ".json")
	r.mustAccept(r.planRelease(names[0]).add("1.0.0", map[string]string{"a.tar.gz": "A"}).change(t, alice))
	fb.set("")
	r.mustAccept(createChange(t, names[1], alice, r.clock.Now())) // any other change of the shard

	if _, err := r.pub.Repair(ctx); err != nil {
		t.Fatal(err)
	}
	r.checkShardServed(shard)
}

// TestRemoveThenReaddInOneBatchKeepsTheBlob: two changes of one project in
// one batch, the first removing a file, the second putting it back with
// the same content (allowed: same sha256), leave the file served. (The
// batch once skipped the upload because the blob existed, then deleted the
// blob the first change removed: the releases role listed a file no longer
// served.)
func TestRemoveThenReaddInOneBatchKeepsTheBlob(t *testing.T) {
	r := newRepo(t)
	const p = "pkg-0"
	r.mustAccept(createChange(t, p, alice, r.clock.Now()))
	r.mustAccept(r.planRelease(p).add("1.0.0", map[string]string{"a.tar.gz": "A", "b.tar.gz": "B"}).change(t, alice))

	// Change 1: remove a.tar.gz (keep release 1.0.0 with b.tar.gz).
	rm := r.planRelease(p)
	delete(rm.role.Signed.Targets, layout.FilePath(p, "1.0.0", "a.tar.gz"))
	rel, _ := rm.index.Release("1.0.0")
	rel.Files = rel.Files[1:]
	c1 := rm.change(t, alice)
	// Change 2, built on change 1: a.tar.gz back with the same bytes.
	back := &release{project: p, role: cloneT(t, rm.role), index: cloneIx(rm.index), files: map[string][]byte{}}
	back.role.Signatures = nil
	back.role.Signed.Version++
	back.role.Signed.Targets[layout.FilePath(p, "1.0.0", "a.tar.gz")] = targetFile([]byte("A"))
	back.files[layout.FilePath(p, "1.0.0", "a.tar.gz")] = []byte("A")
	rel2, _ := back.index.Release("1.0.0")
	rel2.Files = append([]layout.FileEntry{{Name: "a.tar.gz", SHA256: sha("A"), Length: 1}}, rel2.Files...)
	c2 := back.change(t, alice)

	// Hold the shard's loop busy with a change of another project whose
	// upload blocks, queue both changes, then let it go: they share a batch.
	other := sameShard(p, 2)[1]
	r.mustAccept(createChange(t, other, alice, r.clock.Now()))
	c0 := r.planRelease(other).add("1.0.0", map[string]string{"x.tar.gz": "X"}).change(t, alice)
	gate := make(chan struct{})
	x := c0.Files[layout.FilePath(other, "1.0.0", "x.tar.gz")]
	open := x.Open
	x.Open = func() (io.ReadCloser, error) { <-gate; return open() }
	c0.Files[layout.FilePath(other, "1.0.0", "x.tar.gz")] = x
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); r.pub.Submit(ctx, c0) }()
	time.Sleep(100 * time.Millisecond)
	res := make([]publish.Result, 2)
	for i, c := range []*publish.Change{c1, c2} {
		wg.Add(1)
		go func() { defer wg.Done(); res[i], _ = r.pub.Submit(ctx, c) }()
		time.Sleep(50 * time.Millisecond) // keep the order
	}
	close(gate)
	wg.Wait()
	if res[0].SnapshotVersion != res[1].SnapshotVersion || res[0].Outcome.String() != "accepted" || res[1].Outcome.String() != "accepted" {
		t.Skipf("the two changes did not share a batch: %+v %+v", res[0], res[1])
	}
	blob := "targets/" + layout.TargetBlobPath(layout.FilePath(p, "1.0.0", "a.tar.gz"), sha("A"))
	if ok, _ := r.blobs.Exists(ctx, blob); !ok {
		t.Fatalf("the published releases role v%d lists %s, but its blob %s was deleted", r.version(layout.ShardOf(p, shards), layout.ReleasesRole(p)), layout.FilePath(p, "1.0.0", "a.tar.gz"), blob)
	}
}

func sha(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

func cloneT(t *testing.T, md *tufmeta.Targets) *tufmeta.Targets {
	b, err := tufmeta.Encode(md)
	if err != nil {
		t.Fatal(err)
	}
	c, err := tufmeta.Decode[metadata.TargetsType](b)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func cloneIx(ix *layout.Index) *layout.Index {
	c := &layout.Index{Project: ix.Project}
	for _, r := range ix.Releases {
		r.Files = slices.Clone(r.Files)
		c.Releases = append(c.Releases, r)
	}
	return c
}
