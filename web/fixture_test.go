package web_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
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
	"hallmark.dev/hallmark/tufmeta"
	"hallmark.dev/hallmark/web"
)

var secret = bytes.Repeat([]byte{7}, signing.OnlineSecretSize)

func key(b byte, label string) *signing.Key {
	return signing.FromSeed(bytes.Repeat([]byte{b}, 32), label)
}

func onlineKey(shard, role string) (*signing.Key, error) {
	return signing.DeriveOnline(secret, shard, role)
}

// fixture is a repository on a real SQLite store and blob directory,
// initialized by the real ceremony and publisher, with projects added by
// committing signed roles directly (no validation: fast, for tests and
// benchmarks of the pages).
type fixture struct {
	st     *sqlite.DB
	blobs  *blobdir.Dir
	shards int
	now    time.Time
	h      http.Handler
}

func newFixture(tb testing.TB, shards int) *fixture {
	tb.Helper()
	ctx := context.Background()
	dir := tb.TempDir()
	st, err := sqlite.Open(ctx, filepath.Join(dir, "state.db"))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { st.Close() })
	blobs, err := blobdir.Open(filepath.Join(dir, "blobs"))
	if err != nil {
		tb.Fatal(err)
	}
	f := &fixture{st: st, blobs: blobs, shards: shards, now: time.Now().UTC().Truncate(time.Second)}
	pctx, cancel := context.WithCancel(ctx)
	pub := publish.New(pctx, publish.Config{State: st, Blobs: blobs, Keys: onlineKey, Policy: layout.DefaultPolicy(),
		Shards: shards, Now: func() time.Time { return f.now }, Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	tb.Cleanup(func() { cancel(); pub.Wait() })
	root, targets, claim := key(1, "root"), key(2, "targets"), key(3, "claim")
	sh, tf, err := ceremony.Init(ceremony.Params{
		Shards: shards,
		Keys: ceremony.Keys{Root: []signing.PublicKey{root.Public()}, RootThreshold: 1,
			Targets: []signing.PublicKey{targets.Public()}, TargetsThreshold: 1,
			Claim: []signing.PublicKey{claim.Public()}, ClaimThreshold: 1},
		Online: func(shard, role string) signing.PublicKey { k, _ := onlineKey(shard, role); return k.Public() },
		Policy: layout.DefaultPolicy(), Now: f.now,
	}, ceremony.Signers{Root: []*signing.Key{root}, Targets: []*signing.Key{targets}, Claim: []*signing.Key{claim}})
	if err != nil {
		tb.Fatal(err)
	}
	if err := pub.Bootstrap(ctx, sh, tf); err != nil {
		tb.Fatal(err)
	}
	f.h = f.handler(web.Config{})
	return f
}

// handler returns the UI over the fixture's stores, with cfg's other fields.
func (f *fixture) handler(cfg web.Config) http.Handler {
	cfg.State, cfg.Blobs, cfg.Shards = f.st, f.blobs, f.shards
	cfg.Now = func() time.Time { return f.now }
	cfg.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	mux := http.NewServeMux()
	web.New(cfg).Register(mux)
	return mux
}

// get runs one request through the UI.
func (f *fixture) get(url string) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	f.h.ServeHTTP(rec, httptest.NewRequest("GET", url, nil))
	return rec
}

// projectSpec is a project to add.
type projectSpec struct {
	display     string
	owner       *signing.Key
	maintainers []*signing.Key // besides the owner
	threshold   int            // releases threshold (default 1)
	releases    []releaseSpec
}

type releaseSpec struct {
	version string
	files   map[string]string // name → content
	yanked  bool
	reason  string
}

// add publishes the projects by committing their signed roles, the new
// bin of their shards re-signed with the online key, their file records,
// audit lines and blobs.
func (f *fixture) add(tb testing.TB, specs ...projectSpec) {
	tb.Helper()
	ctx := context.Background()
	byShard := map[string][]projectSpec{}
	for _, s := range specs {
		name := layout.Normalize(s.display)
		byShard[layout.ShardOf(name, f.shards)] = append(byShard[layout.ShardOf(name, f.shards)], s)
	}
	pol := layout.DefaultPolicy()
	for _, shard := range slices.Sorted(maps.Keys(byShard)) {
		binName := layout.NewRole(shard)
		rf, err := f.st.Role(ctx, shard, binName)
		if err != nil {
			tb.Fatal(err)
		}
		bin, err := tufmeta.Decode[metadata.TargetsType](rf.Data)
		if err != nil {
			tb.Fatal(err)
		}
		if bin.Signed.Delegations == nil {
			bin.Signed.Delegations = &metadata.Delegations{Keys: map[string]*metadata.Key{}}
		}
		pub := store.Publication{Shard: shard}
		for _, s := range byShard[shard] {
			name := layout.Normalize(s.display)
			owners := tufmeta.NewDelegation([]signing.PublicKey{s.owner.Public()}, 1)
			for id, k := range owners.Keys {
				bin.Signed.Delegations.Keys[id] = k
			}
			bin.Signed.Delegations.Roles = append(bin.Signed.Delegations.Roles, metadata.DelegatedRole{
				Name: layout.OwnersRole(name), KeyIDs: owners.KeyIDs, Threshold: 1, Terminating: true, Paths: layout.DelegationPaths(name)})
			ownersRole, releases, files := f.roles(tb, name, s, pol)
			for _, r := range []struct {
				role string
				md   *tufmeta.Targets
			}{{layout.OwnersRole(name), ownersRole}, {layout.ReleasesRole(name), releases}} {
				data, err := tufmeta.Encode(r.md)
				if err != nil {
					tb.Fatal(err)
				}
				pub.Roles = append(pub.Roles, store.RoleFile{Shard: shard, Role: r.role, Version: 1, Expires: r.md.Signed.Expires, Data: data})
			}
			for path, content := range files {
				sum := sha256.Sum256([]byte(content))
				h := hex.EncodeToString(sum[:])
				// Written straight into the blob directory's layout, without
				// blobdir's fsync per file: ten thousand fsyncs are most of a
				// benchmark fixture's setup time otherwise.
				dst := filepath.Join(f.blobs.Root(), filepath.FromSlash("targets/"+layout.TargetBlobPath(path, h)))
				if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
					tb.Fatal(err)
				}
				if err := os.WriteFile(dst, []byte(content), 0o644); err != nil {
					tb.Fatal(err)
				}
				if path != layout.IndexPath(name) {
					pub.Files = append(pub.Files, store.FileRecord{Project: name, Path: path, SHA256: h, Length: int64(len(content))})
				}
			}
			pub.Projects = append(pub.Projects, store.Project{Name: name, Display: s.display, Shard: shard, Status: store.StatusNew, Created: f.now})
			pub.Audit = append(pub.Audit, store.AuditEntry{Time: f.now, Project: name, Action: "create", Detail: "create project " + s.display, KeyIDs: []string{s.owner.ID()}})
			for _, r := range s.releases {
				pub.Audit = append(pub.Audit, store.AuditEntry{Time: f.now, Project: name, Action: "change",
					Detail: fmt.Sprintf("add release %s: %d file(s)", r.version, len(r.files)), KeyIDs: []string{s.owner.ID()}})
			}
		}
		bin.Signed.Version++
		bin.Signatures = nil
		nk, _ := onlineKey(shard, ceremony.OnlineNew)
		if err := tufmeta.Sign(bin, nk); err != nil {
			tb.Fatal(err)
		}
		data, err := tufmeta.Encode(bin)
		if err != nil {
			tb.Fatal(err)
		}
		pub.Roles = append(pub.Roles, store.RoleFile{Shard: shard, Role: binName, Version: bin.Signed.Version, Expires: bin.Signed.Expires, Data: data})
		if err := f.st.Commit(ctx, pub); err != nil {
			tb.Fatal(err)
		}
	}
}

// roles builds and signs a project's owners and releases roles, and returns
// the target files (index included) by path.
func (f *fixture) roles(tb testing.TB, name string, s projectSpec, pol layout.Policy) (*tufmeta.Targets, *tufmeta.Targets, map[string]string) {
	maint := []signing.PublicKey{s.owner.Public()}
	labels := map[string]string{s.owner.ID(): s.owner.Label()}
	for _, m := range s.maintainers {
		maint = append(maint, m.Public())
		labels[m.ID()] = m.Label()
	}
	threshold := max(s.threshold, 1)
	rel := tufmeta.NewDelegation(maint, threshold)
	ownersRole := metadata.Targets(pol.ExpiresAt(layout.OwnersRole(name), f.now))
	ownersRole.Signed.Delegations = &metadata.Delegations{Keys: rel.Keys, Roles: []metadata.DelegatedRole{{
		Name: layout.ReleasesRole(name), KeyIDs: rel.KeyIDs, Threshold: threshold, Terminating: true, Paths: layout.DelegationPaths(name)}}}
	tufmeta.SetLabels(ownersRole, labels)
	ix := &layout.Index{Project: name}
	files := map[string]string{}
	releases := metadata.Targets(pol.ExpiresAt(layout.ReleasesRole(name), f.now))
	for _, r := range s.releases {
		lr := layout.Release{Version: r.version, Yanked: r.yanked, YankedReason: r.reason}
		for _, fn := range slices.Sorted(maps.Keys(r.files)) {
			content := r.files[fn]
			sum := sha256.Sum256([]byte(content))
			lr.Files = append(lr.Files, layout.FileEntry{Name: fn, SHA256: hex.EncodeToString(sum[:]), Length: int64(len(content))})
			files[layout.FilePath(name, r.version, fn)] = content
		}
		ix.Releases = append(ix.Releases, lr)
	}
	ixData, err := ix.Marshal()
	if err != nil {
		tb.Fatal(err)
	}
	files[layout.IndexPath(name)] = string(ixData)
	for path, content := range files {
		sum := sha256.Sum256([]byte(content))
		releases.Signed.Targets[path] = &metadata.TargetFiles{Length: int64(len(content)), Hashes: metadata.Hashes{"sha256": sum[:]}}
	}
	if err := tufmeta.Sign(ownersRole, s.owner); err != nil {
		tb.Fatal(err)
	}
	signers := append([]*signing.Key{s.owner}, s.maintainers...)[:threshold]
	if err := tufmeta.Sign(releases, signers...); err != nil {
		tb.Fatal(err)
	}
	return ownersRole, releases, files
}

func httptestGet(h http.Handler, url string) string {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", url, nil))
	return rec.Body.String()
}

func osMkdirTemp() (string, error) {
	dir, err := os.MkdirTemp("", "hallmark-web-bench-")
	if err == nil {
		benchTempDirs.Store(dir, true)
	}
	return dir, err
}

// benchTempDirs are the benchmark fixtures' directories, removed by TestMain.
var benchTempDirs sync.Map

func TestMain(m *testing.M) {
	code := m.Run()
	benchTempDirs.Range(func(dir, _ any) bool { os.RemoveAll(dir.(string)); return true })
	os.Exit(code)
}

func shardOf(p string, shards int) string { return layout.ShardOf(p, shards) }
