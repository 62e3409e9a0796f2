package publish_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/theupdateframework/go-tuf/v2/metadata"

	"hallmark.dev/hallmark/ceremony"
	"hallmark.dev/hallmark/layout"
	"hallmark.dev/hallmark/publish"
	"hallmark.dev/hallmark/signing"
	"hallmark.dev/hallmark/store"
	"hallmark.dev/hallmark/store/blobdir"
	"hallmark.dev/hallmark/store/sqlite"
	"hallmark.dev/hallmark/trust"
	"hallmark.dev/hallmark/tufmeta"
)

const shards = 16

var (
	ctx    = context.Background()
	start  = time.Date(2026, 4, 1, 8, 0, 0, 0, time.UTC)
	secret = bytes.Repeat([]byte{7}, signing.OnlineSecretSize)

	rootKey    = key(1, "root")
	targetsKey = key(2, "targets")
	claimKey   = key(3, "claim")
	alice      = key(10, "alice")
	bob        = key(11, "bob")
	mallory    = key(66, "mallory")
)

func key(b byte, label string) *signing.Key {
	return signing.FromSeed(bytes.Repeat([]byte{b}, 32), label)
}

func onlineKey(shard, role string) (*signing.Key, error) {
	return signing.DeriveOnline(secret, shard, role)
}

// clock is the publisher's clock, moved by the test.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

// repo is a bootstrapped 16-shard repository on a real SQLite file and a
// real blob directory.
type repo struct {
	t      *testing.T
	state  *sqlite.DB
	blobs  *blobdir.Dir
	pub    *publish.Publisher
	clock  *clock
	trust  *trust.File
	shards []ceremony.Shard
}

func newRepo(t *testing.T) *repo {
	t.Helper()
	dir := t.TempDir()
	st, err := sqlite.Open(ctx, filepath.Join(dir, "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	blobs, err := blobdir.Open(filepath.Join(dir, "blobs"))
	if err != nil {
		t.Fatal(err)
	}
	r := &repo{t: t, state: st, blobs: blobs, clock: &clock{t: start}}
	t.Cleanup(func() { st.Close() }) // after the publishers stop (cleanups run last first)
	r.restartPublisher()

	if ok, err := r.pub.Initialized(ctx); err != nil || ok {
		t.Fatalf("Initialized before Bootstrap = %v, %v", ok, err)
	}
	params := ceremony.Params{
		Shards: shards,
		Keys: ceremony.Keys{
			Root: []signing.PublicKey{rootKey.Public()}, RootThreshold: 1,
			Targets: []signing.PublicKey{targetsKey.Public()}, TargetsThreshold: 1,
			Claim: []signing.PublicKey{claimKey.Public()}, ClaimThreshold: 1,
		},
		Online: func(shard, role string) signing.PublicKey {
			k, _ := onlineKey(shard, role)
			return k.Public()
		},
		Policy: layout.DefaultPolicy(),
		Now:    start,
	}
	r.shards, r.trust, err = ceremony.Init(params, ceremony.Signers{
		Root: []*signing.Key{rootKey}, Targets: []*signing.Key{targetsKey}, Claim: []*signing.Key{claimKey},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.pub.Bootstrap(ctx, r.shards, r.trust); err != nil {
		t.Fatal(err)
	}
	return r
}

// restartPublisher starts a new publisher on the repository's store, as
// after a restart: its caches are empty. Options change its configuration.
func (r *repo) restartPublisher(opts ...func(*publish.Config)) {
	pctx, cancel := context.WithCancel(ctx)
	cfg := publish.Config{
		State: r.state, Blobs: r.blobs, Keys: onlineKey, Policy: layout.DefaultPolicy(), Shards: shards,
		Now: r.clock.Now, Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	for _, o := range opts {
		o(&cfg)
	}
	pub := publish.New(pctx, cfg)
	r.pub = pub
	r.t.Cleanup(func() {
		cancel()
		pub.Wait()
	})
}

// version returns the published version of a role of a shard.
func (r *repo) version(shard, role string) int64 {
	r.t.Helper()
	rf, err := r.state.Role(ctx, shard, role)
	if err != nil {
		r.t.Fatalf("role %s of shard %s: %v", role, shard, err)
	}
	return rf.Version
}

func (r *repo) blob(path string) []byte {
	r.t.Helper()
	b, err := r.blobs.Open(ctx, path)
	if err != nil {
		r.t.Fatalf("blob %s: %v", path, err)
	}
	defer b.Close()
	data, err := io.ReadAll(b)
	if err != nil {
		r.t.Fatal(err)
	}
	return data
}

func (r *repo) submit(c *publish.Change) publish.Result {
	r.t.Helper()
	res, err := r.pub.Submit(ctx, c)
	if err != nil {
		r.t.Fatalf("Submit: %v", err)
	}
	return res
}

func (r *repo) mustAccept(c *publish.Change) publish.Result {
	r.t.Helper()
	res := r.submit(c)
	if res.Outcome.String() != "accepted" {
		r.t.Fatalf("change to %s: %v (%v)", c.Project, res.Outcome, res.Reason)
	}
	return res
}

// view is everything a reader can see of the repository: every shard's
// current roles, every project with its files and audit, and every blob.
func (r *repo) view() string {
	r.t.Helper()
	var b strings.Builder
	for _, id := range layout.ShardIDs(shards) {
		roles, err := r.state.ShardRoles(ctx, id)
		if err != nil {
			r.t.Fatal(err)
		}
		for _, rf := range roles {
			fmt.Fprintf(&b, "role %s/%s v%d %x\n", id, rf.Role, rf.Version, sha256.Sum256(rf.Data))
		}
	}
	projects, err := r.state.ListProjects(ctx, "", 1000)
	if err != nil {
		r.t.Fatal(err)
	}
	for _, p := range projects {
		files, _ := r.state.Files(ctx, p.Name)
		audit, _ := r.state.Audit(ctx, p.Name, 1000)
		fmt.Fprintf(&b, "project %+v files %+v audit %d\n", p, files, len(audit))
	}
	root := r.blobs.Root()
	filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, _ := os.ReadFile(path)
		rel, _ := filepath.Rel(root, path)
		fmt.Fprintf(&b, "blob %s %x\n", rel, sha256.Sum256(data))
		return nil
	})
	return b.String()
}

func staged(data []byte) publish.Staged {
	s := sha256.Sum256(data)
	return publish.Staged{
		Open:   func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil },
		SHA256: hex.EncodeToString(s[:]), Length: int64(len(data)),
	}
}

func targetFile(data []byte) *metadata.TargetFiles {
	s := sha256.Sum256(data)
	return &metadata.TargetFiles{Length: int64(len(data)), Hashes: metadata.Hashes{"sha256": s[:]}}
}

// createChange is what `hallmark project create` sends (see
// maintainer.CreateProject): owner key = maintainer key, threshold 1, an
// empty index.
func createChange(t *testing.T, name string, owner *signing.Key, now time.Time) *publish.Change {
	t.Helper()
	project, err := layout.ParseProjectName(name)
	if err != nil {
		project = name // let the publisher judge it
	}
	pol := layout.DefaultPolicy()
	owners := tufmeta.NewDelegation([]signing.PublicKey{owner.Public()}, 1)

	ownersRole := metadata.Targets(pol.ExpiresAt(layout.OwnersRole(project), now))
	ownersRole.Signed.Delegations = &metadata.Delegations{Keys: map[string]*metadata.Key{}, Roles: []metadata.DelegatedRole{{
		Name: layout.ReleasesRole(project), KeyIDs: owners.KeyIDs, Threshold: 1,
		Terminating: true, Paths: layout.DelegationPaths(project),
	}}}
	for id, k := range owners.Keys {
		ownersRole.Signed.Delegations.Keys[id] = k
	}
	index, err := (&layout.Index{Project: project}).Marshal()
	if err != nil {
		t.Fatal(err)
	}
	releases := metadata.Targets(pol.ExpiresAt(layout.ReleasesRole(project), now))
	releases.Signed.Targets[layout.IndexPath(project)] = targetFile(index)
	if err := tufmeta.Sign(ownersRole, owner); err != nil {
		t.Fatal(err)
	}
	if err := tufmeta.Sign(releases, owner); err != nil {
		t.Fatal(err)
	}
	return &publish.Change{
		Project: project, Create: true, Display: name, Owners: owners,
		OwnersRole: ownersRole, ReleasesRole: releases,
		Files: map[string]publish.Staged{layout.IndexPath(project): staged(index)},
	}
}

// release is a planned releases-role change, built like
// maintainer.PrepareUpload from the published role and index.
type release struct {
	project string
	role    *tufmeta.Targets
	index   *layout.Index
	files   map[string][]byte // target path → content, uploaded
}

// planRelease starts from the published releases role: next version, new
// expiry, no signatures.
func (r *repo) planRelease(project string) *release {
	r.t.Helper()
	shard := layout.ShardOf(project, shards)
	rf, err := r.state.Role(ctx, shard, layout.ReleasesRole(project))
	if err != nil {
		r.t.Fatal(err)
	}
	role, err := tufmeta.Decode[metadata.TargetsType](rf.Data)
	if err != nil {
		r.t.Fatal(err)
	}
	role.Signatures = nil
	role.Signed.Version++
	role.Signed.Expires = layout.DefaultPolicy().ExpiresAt(layout.ReleasesRole(project), r.clock.Now())
	ixTarget := role.Signed.Targets[layout.IndexPath(project)]
	ixBytes := r.blob("targets/" + layout.TargetBlobPath(layout.IndexPath(project), hex.EncodeToString(ixTarget.Hashes["sha256"])))
	ix, err := layout.ParseIndex(ixBytes)
	if err != nil {
		r.t.Fatal(err)
	}
	return &release{project: project, role: role, index: ix, files: map[string][]byte{}}
}

// add adds a release with files (name → content).
func (p *release) add(version string, files map[string]string) *release {
	rel := layout.Release{Version: version}
	for _, name := range slices.Sorted(maps.Keys(files)) {
		data := []byte(files[name])
		s := sha256.Sum256(data)
		rel.Files = append(rel.Files, layout.FileEntry{Name: name, SHA256: hex.EncodeToString(s[:]), Length: int64(len(data))})
		path := layout.FilePath(p.project, version, name)
		p.role.Signed.Targets[path] = targetFile(data)
		p.files[path] = data
	}
	p.index.Releases = append(p.index.Releases, rel)
	return p
}

// drop removes a release and its files.
func (p *release) drop(version string) *release {
	r, _ := p.index.Release(version)
	for _, f := range r.Files {
		delete(p.role.Signed.Targets, layout.FilePath(p.project, version, f.Name))
	}
	p.index.Releases = slices.DeleteFunc(p.index.Releases, func(r layout.Release) bool { return r.Version == version })
	return p
}

// change signs the plan and builds the change with the uploaded files.
func (p *release) change(t *testing.T, keys ...*signing.Key) *publish.Change {
	t.Helper()
	ix, err := p.index.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	p.role.Signed.Targets[layout.IndexPath(p.project)] = targetFile(ix)
	if err := tufmeta.Sign(p.role, keys...); err != nil {
		t.Fatal(err)
	}
	c := &publish.Change{Project: p.project, ReleasesRole: p.role, Files: map[string]publish.Staged{layout.IndexPath(p.project): staged(ix)}}
	for path, data := range p.files {
		c.Files[path] = staged(data)
	}
	return c
}

// snapshotOf decodes the published snapshot of a shard.
func (r *repo) snapshotOf(shard string) *tufmeta.Snapshot {
	r.t.Helper()
	rf, err := r.state.Role(ctx, shard, layout.RoleSnapshot)
	if err != nil {
		r.t.Fatal(err)
	}
	md, err := tufmeta.Decode[metadata.SnapshotType](rf.Data)
	if err != nil {
		r.t.Fatal(err)
	}
	return md
}

// checkShardServed verifies what a client of the shard downloads first:
// timestamp.json as stored, signed by the shard's timestamp key, naming the
// served snapshot by hash, signed by the shard's snapshot key.
func (r *repo) checkShardServed(shard string) {
	r.t.Helper()
	ts := r.blob(layout.MetadataBlobPath(shard, "timestamp.json"))
	rf, err := r.state.Role(ctx, shard, layout.RoleTimestamp)
	if err != nil {
		r.t.Fatal(err)
	}
	if !bytes.Equal(ts, rf.Data) {
		r.t.Errorf("shard %s: served timestamp.json is not the stored timestamp v%d", shard, rf.Version)
	}
	tsMD, err := tufmeta.Decode[metadata.TimestampType](ts)
	if err != nil {
		r.t.Fatal(err)
	}
	var root *tufmeta.Root
	for _, sh := range r.shards {
		if sh.ID == shard {
			root = sh.Root
		}
	}
	tsDel, _ := tufmeta.RootDelegation(root, layout.RoleTimestamp)
	if err := tufmeta.Verify(tsMD, tsDel, "timestamp"); err != nil {
		r.t.Errorf("shard %s: %v", shard, err)
	}
	sm := tsMD.Signed.Meta["snapshot.json"]
	snap := r.blob(layout.MetadataBlobPath(shard, layout.MetadataFile(layout.RoleSnapshot, sm.Version)))
	if err := sm.VerifyLengthHashes(snap); err != nil {
		r.t.Errorf("shard %s: snapshot v%d does not match the timestamp: %v", shard, sm.Version, err)
	}
	snapMD, err := tufmeta.Decode[metadata.SnapshotType](snap)
	if err != nil {
		r.t.Fatal(err)
	}
	snapDel, _ := tufmeta.RootDelegation(root, layout.RoleSnapshot)
	if err := tufmeta.Verify(snapMD, snapDel, "snapshot"); err != nil {
		r.t.Errorf("shard %s: %v", shard, err)
	}
	for name, mf := range snapMD.Signed.Meta {
		role := strings.TrimSuffix(name, ".json")
		if _, err := r.blobs.Open(ctx, layout.MetadataBlobPath(shard, layout.MetadataFile(role, mf.Version))); errors.Is(err, store.ErrNotFound) {
			r.t.Errorf("shard %s: snapshot lists %s v%d, which is not served", shard, role, mf.Version)
		}
	}
}

// sameShard returns n project names in the shard of first.
func sameShard(first string, n int) []string {
	want := layout.ShardOf(first, shards)
	var out []string
	for i := 0; len(out) < n; i++ {
		name := fmt.Sprintf("pkg-%d", i)
		if layout.ShardOf(name, shards) == want {
			out = append(out, name)
		}
	}
	return out
}
