package e2e

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"maps"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/theupdateframework/go-tuf/v2/metadata"
	"github.com/theupdateframework/go-tuf/v2/metadata/config"
	"github.com/theupdateframework/go-tuf/v2/metadata/updater"

	"hallmark.dev/hallmark/layout"
)

// This file reads a real Hallmark server with go-tuf v2's own updater, as any
// Go program that knows nothing of Hallmark would: one standard TUF
// repository per shard, consistent snapshots, hash-prefixed targets. It uses
// only the layout rules (shard of a name, target paths), never Hallmark's
// client package.

// repoTrust is the repository's trust summary (<repo>/metadata/trust.json),
// decoded here independently of Hallmark's trust package.
type repoTrust struct {
	Shards        int                      `json:"shards"`
	RootKeys      map[string]*metadata.Key `json:"root_keys"`
	RootThreshold int                      `json:"root_threshold"`
	RootVersion   int64                    `json:"root_version"`
}

// staticGet fetches a URL of the test server, with a bounded wait.
func staticGet(t testing.TB, u string) []byte {
	t.Helper()
	c := &http.Client{Timeout: 30 * time.Second}
	resp, err := c.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s: %s", u, resp.Status, b)
	}
	return b
}

// fetchTrust reads the repository's trust summary.
func fetchTrust(t testing.TB, srv *Server) *repoTrust {
	t.Helper()
	var tr repoTrust
	if err := json.Unmarshal(staticGet(t, srv.URL+"/"+layout.TrustFile), &tr); err != nil {
		t.Fatalf("trust.json: %v", err)
	}
	if layout.CheckShardCount(tr.Shards) != nil || len(tr.RootKeys) == 0 || tr.RootThreshold < 1 || tr.RootVersion < 1 {
		t.Fatalf("trust.json is not plausible: %+v", tr)
	}
	return &tr
}

// fetchInitialRoot fetches version 1 of the shard's root, the initial
// trusted root of a fresh TUF client, and checks that it names exactly the
// root keys and threshold of the trust summary (what a user pins).
func fetchInitialRoot(t testing.TB, srv *Server, tr *repoTrust, shard string) []byte {
	t.Helper()
	raw := staticGet(t, shardMetadataURL(srv, shard)+"1.root.json")
	md, err := (&metadata.Metadata[metadata.RootType]{}).FromBytes(raw)
	if err != nil {
		t.Fatalf("shard %s: 1.root.json: %v", shard, err)
	}
	if !md.Signed.ConsistentSnapshot {
		t.Fatalf("shard %s: root does not use consistent snapshots", shard)
	}
	role := md.Signed.Roles[metadata.ROOT]
	if role == nil || role.Threshold != tr.RootThreshold {
		t.Fatalf("shard %s: root role %+v, trust.json threshold %d", shard, role, tr.RootThreshold)
	}
	ids := slices.Sorted(maps.Keys(tr.RootKeys))
	if got := slices.Sorted(slices.Values(role.KeyIDs)); !slices.Equal(got, ids) {
		t.Fatalf("shard %s: root keys %v, trust.json root keys %v", shard, got, ids)
	}
	for _, id := range ids {
		k := md.Signed.Keys[id]
		if k == nil || k.Value.PublicKey != tr.RootKeys[id].Value.PublicKey {
			t.Fatalf("shard %s: root key %s differs from trust.json", shard, id)
		}
	}
	return raw
}

func shardMetadataURL(srv *Server, shard string) string {
	return srv.URL + "/metadata/" + shard + "/"
}

func targetsURL(srv *Server) string { return srv.URL + "/targets/" }

// goTUF is one go-tuf client of one shard, with its own local cache.
type goTUF struct {
	t           testing.TB
	metadataURL string
	targetsURL  string
	metaDir     string
	targetsDir  string
	root        []byte // the initial trusted root, used until go-tuf persists one
}

func newGoTUF(t testing.TB, srv *Server, shard string, root []byte) *goTUF {
	dir := t.TempDir()
	return &goTUF{
		t:           t,
		metadataURL: shardMetadataURL(srv, shard),
		targetsURL:  targetsURL(srv),
		metaDir:     filepath.Join(dir, "metadata"),
		targetsDir:  filepath.Join(dir, "targets"),
		root:        root,
	}
}

// updater returns a new go-tuf updater (go-tuf updaters refresh once) that
// starts from the root go-tuf last persisted, or the initial root.
func (g *goTUF) updater() *updater.Updater {
	g.t.Helper()
	root, err := os.ReadFile(filepath.Join(g.metaDir, "root.json"))
	if errors.Is(err, os.ErrNotExist) {
		root = g.root
	} else if err != nil {
		g.t.Fatal(err)
	}
	cfg, err := config.New(g.metadataURL, root)
	if err != nil {
		g.t.Fatal(err)
	}
	cfg.LocalMetadataDir = g.metaDir
	cfg.LocalTargetsDir = g.targetsDir
	cfg.RemoteTargetsURL = g.targetsURL
	cfg.PrefixTargetsWithHash = true
	// go-tuf's default fetcher, with a bounded wait.
	if err := cfg.SetDefaultFetcherHTTPClient(&http.Client{Timeout: 30 * time.Second}); err != nil {
		g.t.Fatal(err)
	}
	up, err := updater.New(cfg)
	if err != nil {
		g.t.Fatalf("go-tuf refuses the initial root: %v", err)
	}
	return up
}

// refresh returns a refreshed updater.
func (g *goTUF) refresh() *updater.Updater {
	g.t.Helper()
	up := g.updater()
	if err := up.Refresh(); err != nil {
		g.t.Fatalf("go-tuf refresh of %s: %v", g.metadataURL, err)
	}
	return up
}

// download finds a target with go-tuf, downloads and verifies it into the
// local targets directory, and returns its bytes as go-tuf stored them.
func (g *goTUF) download(up *updater.Updater, target string) []byte {
	g.t.Helper()
	info, err := up.GetTargetInfo(target)
	if err != nil {
		g.t.Fatalf("go-tuf GetTargetInfo(%s): %v", target, err)
	}
	path, data, err := up.DownloadTarget(info, "", "")
	if err != nil {
		g.t.Fatalf("go-tuf DownloadTarget(%s): %v", target, err)
	}
	onDisk, err := os.ReadFile(path)
	if err != nil || !bytes.Equal(onDisk, data) {
		g.t.Fatalf("go-tuf stored %s at %s with other bytes (err %v)", target, path, err)
	}
	return data
}

// localTarget is where go-tuf stores a target it downloaded.
func (g *goTUF) localTarget(target string) string {
	return filepath.Join(g.targetsDir, url.PathEscape(target))
}

func hexDigest(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func randomContent(t testing.TB, n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

// checkIndexLists parses a project index downloaded through TUF and checks that
// it lists exactly the given versions, each with the given files.
func checkIndexLists(t testing.TB, raw []byte, project string, want map[string]map[string][]byte) {
	t.Helper()
	ix, err := layout.ParseIndex(raw)
	if err != nil {
		t.Fatalf("index of %s: %v\n%s", project, err, raw)
	}
	if ix.Project != project {
		t.Fatalf("index names project %q, want %q", ix.Project, project)
	}
	if len(ix.Releases) != len(want) {
		t.Fatalf("index lists %d releases, want %d: %s", len(ix.Releases), len(want), raw)
	}
	for _, r := range ix.Releases {
		files, ok := want[r.Version]
		if !ok {
			t.Fatalf("index lists unexpected version %s: %s", r.Version, raw)
		}
		if r.Yanked {
			t.Fatalf("index says %s is yanked", r.Version)
		}
		if len(r.Files) != len(files) {
			t.Fatalf("index lists %d files for %s, want %d", len(r.Files), r.Version, len(files))
		}
		for _, f := range r.Files {
			content, ok := files[f.Name]
			if !ok {
				t.Fatalf("index lists unexpected file %s in %s", f.Name, r.Version)
			}
			if f.SHA256 != hexDigest(content) || f.Length != int64(len(content)) {
				t.Fatalf("index entry of %s/%s: sha256 %s length %d, want %s %d", r.Version, f.Name, f.SHA256, f.Length, hexDigest(content), len(content))
			}
		}
	}
}

// otherShard returns a shard id of the repository other than shard.
func otherShardThan(t testing.TB, shards int, shard string) string {
	t.Helper()
	for _, id := range layout.ShardIDs(shards) {
		if id != shard {
			return id
		}
	}
	t.Skipf("a repository of %d shard(s) has no other shard", shards)
	return ""
}

// TestGoTUFReadsRepository: go-tuf's own updater, starting from a shard's
// version-1 root, finds, downloads and verifies what a maintainer published
// through the CLI (release files and the project index), follows a later
// upload with a new updater over its cached metadata, finds the project in
// its shard only, and refuses artifacts and indexes tampered on disk.
func TestGoTUFReadsRepository(t *testing.T) {
	srv := StartServer(t)
	alice := NewMaintainer(t, srv, "alice")
	alice.MustRun("project", "create", "GoTUF_Demo.pkg", "--key", "alice")
	project := "gotuf-demo-pkg"
	if n, err := layout.ParseProjectName("GoTUF_Demo.pkg"); err != nil || n != project {
		t.Fatalf("normalized name %q (%v), want %q", n, err, project)
	}

	dir := t.TempDir()
	v1 := map[string][]byte{
		"gotuf-demo-1.0.0.tar.gz":           randomContent(t, 300<<10),
		"gotuf_demo-1.0.0-py3-none-any.whl": []byte("wheel 1.0.0\n"),
	}
	var paths []string
	for name, content := range v1 {
		paths = append(paths, WriteFile(t, dir, name, content))
	}
	alice.MustRun(append([]string{"release", "upload", project, "1.0.0", "--key", "alice"}, paths...)...)

	tr := fetchTrust(t, srv)
	shard := layout.ShardOf(project, tr.Shards)
	root := fetchInitialRoot(t, srv, tr, shard)
	client := newGoTUF(t, srv, shard, root)

	up := client.refresh()
	for name, content := range v1 {
		target := layout.FilePath(project, "1.0.0", name)
		if got := client.download(up, target); !bytes.Equal(got, content) {
			t.Fatalf("go-tuf downloaded %s with other bytes than were uploaded", target)
		}
	}
	checkIndexLists(t, client.download(up, layout.IndexPath(project)), project, map[string]map[string][]byte{"1.0.0": v1})

	// The files are signed by the project's releases role, reached through
	// the delegation from the project's owners role.
	tm := up.GetTrustedMetadataSet()
	rel := tm.Targets[layout.ReleasesRole(project)]
	if rel == nil {
		t.Fatalf("go-tuf did not load %s; loaded roles: %v", layout.ReleasesRole(project), sortedRoleNames(tm.Targets))
	}
	for name := range v1 {
		if rel.Signed.Targets[layout.FilePath(project, "1.0.0", name)] == nil {
			t.Fatalf("%s does not list %s", layout.ReleasesRole(project), name)
		}
	}
	if tm.Targets[layout.OwnersRole(project)] == nil {
		t.Fatalf("go-tuf did not load the owners role %s", layout.OwnersRole(project))
	}

	// A target that was never published is not found.
	if _, err := up.GetTargetInfo(layout.FilePath(project, "1.0.0", "nope.tar.gz")); err == nil {
		t.Fatal("go-tuf found a target that was never published")
	}

	// A later upload is seen by a new updater over the cached metadata.
	ts1 := tm.Timestamp.Signed.Version
	v2 := map[string][]byte{"gotuf-demo-1.1.0.tar.gz": randomContent(t, 10<<10)}
	alice.MustRun("release", "upload", project, "1.1.0", WriteFile(t, dir, "gotuf-demo-1.1.0.tar.gz", v2["gotuf-demo-1.1.0.tar.gz"]), "--key", "alice")
	up2 := client.refresh()
	if ts2 := up2.GetTrustedMetadataSet().Timestamp.Signed.Version; ts2 <= ts1 {
		t.Fatalf("timestamp version %d after an upload, was %d", ts2, ts1)
	}
	if got := client.download(up2, layout.FilePath(project, "1.1.0", "gotuf-demo-1.1.0.tar.gz")); !bytes.Equal(got, v2["gotuf-demo-1.1.0.tar.gz"]) {
		t.Fatal("go-tuf downloaded 1.1.0 with other bytes than were uploaded")
	}
	checkIndexLists(t, client.download(up2, layout.IndexPath(project)), project, map[string]map[string][]byte{"1.0.0": v1, "1.1.0": v2})

	// Another shard is a separate TUF repository: the project is not there,
	// and its root does not verify this shard's metadata.
	other := otherShardThan(t, tr.Shards, shard)
	otherClient := newGoTUF(t, srv, other, fetchInitialRoot(t, srv, tr, other))
	upOther := otherClient.refresh()
	if _, err := upOther.GetTargetInfo(layout.IndexPath(project)); err == nil {
		t.Fatalf("shard %s serves %s, which belongs to shard %s", other, layout.IndexPath(project), shard)
	}
	mixed := newGoTUF(t, srv, shard, fetchInitialRoot(t, srv, tr, other))
	err := mixed.updater().Refresh()
	var unsigned *metadata.ErrUnsignedMetadata
	if !errors.As(err, &unsigned) {
		t.Fatalf("go-tuf with shard %s's root, reading shard %s: want an unsigned-metadata error, got %v", other, shard, err)
	}

	// Tampered artifacts and indexes on the server's disk are refused, by a
	// fresh client and by the one with cached metadata.
	tarball := layout.FilePath(project, "1.0.0", "gotuf-demo-1.0.0.tar.gz")
	index := layout.IndexPath(project)
	for _, target := range []string{tarball, index} {
		info, err := up2.GetTargetInfo(target)
		if err != nil {
			t.Fatal(err)
		}
		orig := client.download(up2, target)
		blob := srv.BlobPath("targets/" + layout.TargetBlobPath(target, hexDigest(orig)))
		if onDisk, err := os.ReadFile(blob); err != nil || !bytes.Equal(onDisk, orig) {
			t.Fatalf("blob of %s is not at %s (err %v)", target, blob, err)
		}
		sameLength := bytes.Clone(orig)
		sameLength[len(sameLength)/2] ^= 0xff
		longer := append(bytes.Clone(orig), '\n')
		shorter := orig[:len(orig)-1]
		for _, tc := range []struct {
			name string
			data []byte
		}{{"same length", sameLength}, {"longer", longer}, {"shorter", shorter}} {
			if err := os.WriteFile(blob, tc.data, 0o644); err != nil {
				t.Fatal(err)
			}
			// The server serves a file changed behind its back as stored
			// from the next request on (docs/operations.md).
			if served := staticGet(t, targetsURL(srv)+layout.TargetBlobPath(target, hexDigest(orig))); !bytes.Equal(served, tc.data) {
				t.Fatalf("%s: the server does not serve the tampered blob; the test would prove nothing", tc.name)
			}
			fresh := newGoTUF(t, srv, shard, root)
			upFresh := fresh.refresh()
			freshInfo, err := upFresh.GetTargetInfo(target)
			if err != nil {
				t.Fatal(err)
			}
			for who, c := range map[string]struct {
				g    *goTUF
				up   *updater.Updater
				info *metadata.TargetFiles
			}{"fresh client": {fresh, upFresh, freshInfo}, "cached client": {client, up2, info}} {
				os.Remove(c.g.localTarget(target))
				_, data, err := c.up.DownloadTarget(c.info, "", "")
				if err == nil {
					t.Fatalf("%s: %s: go-tuf accepted a tampered %s", tc.name, who, target)
				}
				var hashErr *metadata.ErrLengthOrHashMismatch
				var lenErr *metadata.ErrDownloadLengthMismatch
				if !errors.As(err, &hashErr) && !errors.As(err, &lenErr) {
					t.Fatalf("%s: %s: go-tuf refused a tampered %s with an unexpected error: %v", tc.name, who, target, err)
				}
				if data != nil {
					t.Fatalf("%s: %s: go-tuf returned data with its error", tc.name, who)
				}
				if _, err := os.Stat(c.g.localTarget(target)); err == nil {
					t.Fatalf("%s: %s: go-tuf stored a tampered %s", tc.name, who, target)
				}
			}
		}
		if err := os.WriteFile(blob, orig, 0o644); err != nil {
			t.Fatal(err)
		}
		if got := client.download(up2, target); !bytes.Equal(got, orig) {
			t.Fatalf("after restoring the blob, %s differs", target)
		}
	}
}

func sortedRoleNames[T any](m map[string]T) []string { return slices.Sorted(maps.Keys(m)) }
