package e2e

// Admin ceremonies end to end: a production repository (`hallmark admin
// prepare`, `hallmark admin init`, `hallmark serve --init-bundle`), with
// admins who hold offline keys in their own directories, driving the real
// binary against a real server: initializing with an n-of-m root held by
// several people, claiming, rotating root and claim keys, blocking and
// unblocking, renewing offline metadata and applying owner changes of
// claimed projects (DESIGN.md sections 1, 2, 5 and 6).

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/theupdateframework/go-tuf/v2/metadata"
	"github.com/theupdateframework/go-tuf/v2/metadata/updater"

	"hallmark.dev/hallmark/layout"
	"hallmark.dev/hallmark/server"
	"hallmark.dev/hallmark/signing"
)

// ---------------------------------------------------------------------------
// Helpers for production repositories.

// admShards is the shard count of the production repositories these tests
// prepare.
const admShards = 16

var (
	admInitFingerprint  = regexp.MustCompile(`trust fingerprint of the new repository: ([0-9a-f]{64})`)
	admTrustFingerprint = regexp.MustCompile(`fingerprint: ([0-9a-f]{64})`)
	admApproveHint      = regexp.MustCompile(`hallmark approve (\S+) ([0-9a-f]+)`)
)

// admMatch returns the first group of re in text, or fails the test.
func admMatch(t testing.TB, re *regexp.Regexp, text string) string {
	t.Helper()
	m := re.FindStringSubmatch(text)
	if m == nil {
		t.Fatalf("output does not match %s:\n%s", re, text)
	}
	return m[1]
}

// admSays fails the test unless text contains every want.
func admSays(t testing.TB, what, text string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(text, w) {
			t.Fatalf("%s does not say %q:\n%s", what, w, text)
		}
	}
}

// admNewServer returns a server on a free address with a new, empty data
// directory, not started yet: the admins prepare and initialize it first.
func admNewServer(t testing.TB) *Server {
	t.Helper()
	return newServer(t)
}

func admServeArgs(s *Server, bundle string) []string {
	args := []string{"serve", "--data", s.Data, "--addr", s.listenAddr()}
	if bundle != "" {
		args = append(args, "--init-bundle", bundle)
	}
	return args
}

// admServe starts `hallmark serve` on a production data directory (no
// --dev), with the admins' init ceremony when bundle is set, and waits
// until it is healthy.
func admServe(s *Server, bundle string) {
	s.t.Helper()
	s.launch(admServeArgs(s, bundle))
}

// admServeFails runs `hallmark serve` with bundle and requires it to exit
// with an error, without ever answering; it returns the output.
func admServeFails(t testing.TB, s *Server, bundle string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, binary, admServeArgs(s, bundle)...)
	cmd.Env = append(os.Environ(), s.Env...)
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	hc := &http.Client{Timeout: time.Second}
	for {
		select {
		case err := <-done:
			if err == nil {
				t.Fatalf("hallmark serve --init-bundle %s exited 0; want a refusal:\n%s", bundle, out.String())
			}
			return out.String()
		case <-time.After(100 * time.Millisecond):
			if resp, err := hc.Get(s.URL + "/healthz"); err == nil {
				resp.Body.Close()
				cmd.Process.Kill()
				<-done
				t.Fatalf("hallmark serve started with %s; want a refusal:\n%s", bundle, out.String())
			}
		}
	}
}

// admKey creates an encrypted key with `hallmark key generate` in u's own
// home, copies the key file into the admin key directory dir (as an admin
// moves a key onto the offline machine), and returns the public key line.
func admKey(t testing.TB, u *User, name, dir string) string {
	t.Helper()
	u.MustRun("key", "generate", name, "--label", name)
	data, err := os.ReadFile(filepath.Join(u.Home, "keys", name+".key"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".key"), data, 0o600); err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(u.MustRun("key", "export", name).Stdout)
}

// admKeyID opens an offline key file and returns its key id.
func admKeyID(t testing.TB, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	k, err := signing.ParseKey(data, []byte(userPassphrase))
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return k.ID()
}

// admMove moves an offline key file from one admin key directory to another.
func admMove(t testing.TB, from, to, name string) {
	t.Helper()
	if err := os.MkdirAll(to, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(filepath.Join(from, name+".key"), filepath.Join(to, name+".key")); err != nil {
		t.Fatal(err)
	}
}

// admRepo is a production repository with one admin holding every offline
// key (root-1..3 with threshold 2, targets, claim) in one directory.
type admRepo struct {
	srv   *Server
	admin *User
	keys  string
	fp    string
}

func admSetup(t testing.TB) *admRepo {
	t.Helper()
	srv := admNewServer(t)
	a := NewUser(t, srv)
	keys := filepath.Join(a.Home, "offline-keys")
	online := filepath.Join(a.Home, "online-keys.json")
	bundle := filepath.Join(a.Home, "init.json")
	a.MustRun("admin", "prepare", "--data", srv.Data, "--shards", "16", "-o", online)
	r := a.MustRun("admin", "init", "--keys", keys, "--online-keys", online, "-o", bundle)
	fp := admMatch(t, admInitFingerprint, r.Stderr)
	admServe(srv, bundle)
	a.MustRun("trust", srv.URL, "--fingerprint", fp)
	return &admRepo{srv: srv, admin: a, keys: keys, fp: fp}
}

// admPin returns a new user who pinned srv with the fingerprint fp.
func admPin(t testing.TB, srv *Server, fp string) *User {
	t.Helper()
	u := NewUser(t, srv)
	u.MustRun("trust", srv.URL, "--fingerprint", fp)
	return u
}

// admMustGet downloads spec with `hallmark get` and checks that exactly the
// file name with content want arrives.
func admMustGet(t testing.TB, u *User, spec, name string, want []byte) {
	t.Helper()
	out := t.TempDir()
	u.MustRun("get", spec, "-o", out)
	got, err := os.ReadFile(filepath.Join(out, name))
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("get %s: %s = %q (%v); want %q", spec, name, got, err, want)
	}
}

// admStatus fetches a served URL and returns its HTTP status and body.
func admStatus(t testing.TB, u string) (int, string) {
	t.Helper()
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, string(b)
}

// admRoleFiles lists the served metadata paths of a project's two roles
// (every version), from the server's blob directory.
func admRoleFiles(t testing.TB, srv *Server, project string) []string {
	t.Helper()
	shard := layout.ShardOf(project, admShards)
	var out []string
	for _, role := range []string{layout.OwnersRole(project), layout.ReleasesRole(project)} {
		m, err := filepath.Glob(srv.BlobPath(layout.MetadataBlobPath(shard, "*."+role+".json")))
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range m {
			if name := filepath.Base(p); regexp.MustCompile(`^[0-9]+\.` + regexp.QuoteMeta(role) + `\.json$`).MatchString(name) {
				out = append(out, "metadata/"+shard+"/"+name)
			}
		}
	}
	if len(out) < 2 {
		t.Fatalf("no metadata files of %s in the blob directory: %v", project, out)
	}
	return out
}

// admInitialRoots fetches version 1 of every shard's root, checked against
// the trust summary (what a downloader pinned at the start).
func admInitialRoots(t testing.TB, srv *Server) map[string][]byte {
	t.Helper()
	tr := fetchTrust(t, srv)
	out := map[string][]byte{}
	for _, s := range layout.ShardIDs(tr.Shards) {
		out[s] = fetchInitialRoot(t, srv, tr, s)
	}
	return out
}

// admLoadBins refreshes an updater and makes go-tuf load the shard's bins
// (by looking up a target no project has), returning the trusted set.
func admLoadBins(t testing.TB, up *updater.Updater) *updater.Updater {
	t.Helper()
	if _, err := up.GetTargetInfo("hallmark-e2e-nothing/index.json"); err == nil {
		t.Fatal("go-tuf found a target no project has")
	}
	return up
}

// ---------------------------------------------------------------------------
// 1. The full ceremony with a 2-of-3 root held by three admins.

func TestAdminCeremonyThreeAdmins(t *testing.T) {
	srv := admNewServer(t)
	a1, a2, a3 := NewUser(t, srv), NewUser(t, srv), NewUser(t, srv)
	k1 := filepath.Join(a1.Home, "offline-keys")
	k2 := filepath.Join(a2.Home, "offline-keys")
	k3 := filepath.Join(a3.Home, "offline-keys")
	// Admins 2 and 3 create their root keys on their own machines and give
	// the first admin only the public halves.
	pub2 := admKey(t, a2, "root-b", k2)
	pub3 := admKey(t, a3, "root-c", k3)

	// The operator prepares the data directory; admin 1 runs the ceremony.
	online := filepath.Join(t.TempDir(), "online-keys.json")
	a1.MustRun("admin", "prepare", "--data", srv.Data, "--shards", "16", "-o", online)
	bundle := filepath.Join(t.TempDir(), "init.json")
	r := a1.MustRun("admin", "init", "--keys", k1, "--online-keys", online, "--root-keys", "1",
		"--root-pubkey", pub2, "--root-pubkey", pub3, "-o", bundle)
	admSays(t, "admin init", r.Stderr, "root keys ", ", threshold 2 (every shard)", "create the repository's metadata, version 1",
		"root: 1 of 2 signatures (every shard)", "saved to "+bundle)
	fp := admMatch(t, admInitFingerprint, r.Stderr)
	for _, name := range []string{"root-1", "targets", "claim"} {
		if _, err := os.Stat(filepath.Join(k1, name+".key")); err != nil {
			t.Fatalf("admin init did not create %s.key: %v", name, err)
		}
	}
	if _, err := os.Stat(filepath.Join(k1, "root-2.key")); err == nil {
		t.Fatal("admin init --root-keys 1 created a second root key")
	}

	// The server refuses the under-signed bundle, saying what is missing.
	under := filepath.Join(t.TempDir(), "under-signed.json")
	data, err := os.ReadFile(bundle)
	if err != nil {
		t.Fatal(err)
	}
	WriteFile(t, filepath.Dir(under), filepath.Base(under), data)
	out := admServeFails(t, srv, under)
	admSays(t, "serve with an under-signed init bundle", out, "1 of 2 signatures", "hallmark admin sign")

	// Admin 2 verifies and signs; then the bundle is complete. Signing twice
	// adds nothing.
	r = a2.MustRun("admin", "sign", bundle, "--keys", k2, "--yes")
	admSays(t, "admin sign", r.Stderr, "added 16 signature(s)", "complete: start the server")
	a2.MustFail("none of your keys can add a signature", "admin", "sign", bundle, "--keys", k2, "--yes")
	admServe(srv, bundle)
	for _, a := range []*User{a1, a2, a3} {
		a.MustRun("trust", srv.URL, "--fingerprint", fp)
	}
	if tr := fetchTrust(t, srv); len(tr.RootKeys) != 3 || tr.RootThreshold != 2 || tr.RootVersion != 1 {
		t.Fatalf("trust summary after init: %+v", tr)
	}

	// Maintainers publish; the admins claim.
	alice := NewMaintainer(t, srv, "alice")
	dir := t.TempDir()
	demo1 := []byte("demo 1.0.0, signed by alice\n")
	other1 := []byte("other 1.0.0\n")
	alice.MustRun("project", "create", "demo", "--key", "alice")
	alice.MustRun("release", "upload", "demo", "1.0.0", WriteFile(t, dir, "demo-1.0.0.tar.gz", demo1))
	alice.MustRun("project", "create", "other", "--key", "alice")
	alice.MustRun("release", "upload", "other", "1.0.0", WriteFile(t, dir, "other-1.0.0.tar.gz", other1))
	admSays(t, "admin status", a1.MustRun("admin", "status").Stdout,
		"projects waiting to be claimed: 2\n  demo\n  other\n", "claim them with: hallmark admin claim --all")
	r = a1.MustRun("admin", "claim", "--all", "--keys", k1, "--yes")
	admSays(t, "admin claim", r.Stderr, "  - claim demo: owners alice <alice@example.org> (", "unchanged since the project was created", "  - claim other: owners alice", "published in ")
	admSays(t, "admin status after the claim", a1.MustRun("admin", "status").Stdout, "projects waiting to be claimed: 0\n")
	a1.MustRun("admin", "claim", "--all", "--keys", k1, "--yes") // nothing waits: a no-op

	// A downloader pins the repository, and so does go-tuf (version-1 roots).
	roots := admInitialRoots(t, srv)
	dl := admPin(t, srv, fp)
	admMustGet(t, dl, "demo", "demo-1.0.0.tar.gz", demo1)
	admSays(t, "project show", dl.MustRun("project", "show", "demo").Stdout, "claimed: only its owners and the repository's offline keys")
	demoShard := layout.ShardOf("demo", admShards)
	demoFile := layout.FilePath("demo", "1.0.0", "demo-1.0.0.tar.gz")
	gt := newGoTUF(t, srv, demoShard, roots[demoShard])
	if got := gt.download(gt.refresh(), demoFile); !bytes.Equal(got, demo1) {
		t.Fatal("go-tuf downloaded other bytes")
	}

	// Root rotation: admin 1 replaces its root key. Admin 1 proposes and
	// saves the ceremony; it cannot be submitted until admin 3 signs.
	oldRoot := admKeyID(t, filepath.Join(k1, "root-1.key"))
	newPub := admKey(t, a1, "root-1b", k1)
	newRoot := admKeyID(t, filepath.Join(k1, "root-1b.key"))
	rot := filepath.Join(t.TempDir(), "rotate-root.json")
	r = a1.MustRun("admin", "rotate", "root", "--add", newPub, "--remove", oldRoot[:12], "--keys", k1, "--yes", "-o", rot)
	admSays(t, "admin rotate root", r.Stderr, "add root key(s) "+newRoot[:8]+" (every shard)", "remove root key(s) "+oldRoot[:8]+" (every shard)",
		"it needs more signatures", "saved to "+rot)
	a1.MustFail("the ceremony still needs signatures", "admin", "submit", rot, "--yes")
	if tr := fetchTrust(t, srv); tr.RootVersion != 1 {
		t.Fatalf("an incomplete rotation changed the trust summary: %+v", tr)
	}
	r = a3.MustRun("admin", "sign", rot, "--keys", k3, "--yes")
	admSays(t, "admin sign rotation", r.Stderr, "add root key(s) "+newRoot[:8], "added 16 signature(s)", "complete: submit it")
	r = a2.MustRun("admin", "submit", rot, "--yes")
	admSays(t, "admin submit rotation", r.Stderr, "published in 16 shard(s)")
	announced := admNewFingerprint(t, r.Stderr)
	admMove(t, k1, t.TempDir(), "root-1") // retired
	tr := fetchTrust(t, srv)
	if tr.RootVersion != 2 || len(tr.RootKeys) != 3 || tr.RootThreshold != 2 || tr.RootKeys[newRoot] == nil || tr.RootKeys[oldRoot] != nil {
		t.Fatalf("trust summary after the rotation: version %d, threshold %d, keys %v", tr.RootVersion, tr.RootThreshold, sortedRoleNames(tr.RootKeys))
	}

	// The downloader who pinned before the rotation follows it.
	admMustGet(t, dl, "demo", "demo-1.0.0.tar.gz", demo1)
	admSays(t, "project show after the rotation", dl.MustRun("project", "show", "demo").Stdout, "claimed: only its owners and the repository's offline keys")
	up := gt.refresh()
	if root := up.GetTrustedMetadataSet().Root; root.Signed.Version != 2 || !slices.Contains(root.Signed.Roles[metadata.ROOT].KeyIDs, newRoot) ||
		slices.Contains(root.Signed.Roles[metadata.ROOT].KeyIDs, oldRoot) {
		t.Fatalf("go-tuf trusts root version %d with keys %v after the rotation", root.Signed.Version, root.Signed.Roles[metadata.ROOT].KeyIDs)
	}
	if got := gt.download(up, demoFile); !bytes.Equal(got, demo1) {
		t.Fatal("go-tuf downloaded other bytes after the rotation")
	}

	// A new user sees the new fingerprint (the old one is refused) and downloads.
	newcomer := NewUser(t, srv)
	newcomer.MustFail("differs from the expected", "trust", srv.URL, "--fingerprint", fp)
	fp2 := admMatch(t, admTrustFingerprint, newcomer.MustRun("trust", srv.URL, "--yes").Stderr)
	if fp2 == fp || fp2 != announced {
		t.Fatalf("the fingerprint after the rotation is %s; the ceremony announced %s, the old one was %s", fp2, announced, fp)
	}
	admMustGet(t, newcomer, "other", "other-1.0.0.tar.gz", other1)
	admMustGet(t, newcomer, "demo", "demo-1.0.0.tar.gz", demo1)

	// Claim key rotation, then a claim signed with the new claim key only.
	oldClaim := admKeyID(t, filepath.Join(k1, "claim.key"))
	claimPub := admKey(t, a1, "claim-2", k1)
	newClaim := admKeyID(t, filepath.Join(k1, "claim-2.key"))
	r = a1.MustRun("admin", "rotate", "claim", "--add", claimPub, "--remove", oldClaim[:12], "--keys", k1, "--yes")
	admSays(t, "admin rotate claim", r.Stderr, "add claim key(s) "+newClaim[:8]+" (every shard)", "remove claim key(s) "+oldClaim[:8]+" (every shard)",
		"published in 16 shard(s)")
	retired := t.TempDir()
	admMove(t, k1, retired, "claim")

	later1 := []byte("later 1.0.0\n")
	alice.MustRun("project", "create", "later", "--key", "alice")
	alice.MustRun("release", "upload", "later", "1.0.0", WriteFile(t, dir, "later-1.0.0.tar.gz", later1))
	// The retired claim key cannot sign a claim any more.
	r = a1.MustFail("none of your keys can sign this ceremony", "admin", "claim", "later", "--keys", retired, "--yes")
	admSays(t, "project show before the claim", dl.MustRun("project", "show", "later").Stdout, "not claimed yet")
	r = a1.MustRun("admin", "claim", "--all", "--keys", k1, "--yes")
	admSays(t, "claim with the new key", r.Stderr, "  - claim later: owners ", "published in 1 shard(s)")
	admSays(t, "project show after the claim", dl.MustRun("project", "show", "later").Stdout, "claimed: only its owners")
	admMustGet(t, dl, "later", "later-1.0.0.tar.gz", later1)
	admMustGet(t, newcomer, "demo", "demo-1.0.0.tar.gz", demo1)

	// go-tuf, from the version-1 root: targets delegates the claimed bin to
	// the new claim key only, and the bin is signed by it alone.
	laterShard := layout.ShardOf("later", admShards)
	lg := newGoTUF(t, srv, laterShard, roots[laterShard])
	lup := lg.refresh()
	if got := lg.download(lup, layout.FilePath("later", "1.0.0", "later-1.0.0.tar.gz")); !bytes.Equal(got, later1) {
		t.Fatal("go-tuf downloaded other bytes of later")
	}
	tm := lup.GetTrustedMetadataSet()
	if ds := tm.Targets[metadata.TARGETS].Signed.Delegations; ds == nil || !slices.Equal(ds.Roles[0].KeyIDs, []string{newClaim}) {
		t.Fatalf("targets delegates %s to %v; want only the new claim key %s", layout.ClaimedRole(laterShard), ds.Roles[0].KeyIDs, newClaim)
	}
	bin := tm.Targets[layout.ClaimedRole(laterShard)]
	if bin == nil || len(bin.Signatures) != 1 || bin.Signatures[0].KeyID != newClaim {
		t.Fatalf("%s is not signed by the new claim key alone: %+v", layout.ClaimedRole(laterShard), bin.Signatures)
	}
}

// ---------------------------------------------------------------------------
// 2. Blocking a claimed and an unclaimed project, and unblocking them.

func TestAdminBlockUnblock(t *testing.T) {
	rp := admSetup(t)
	srv := rp.srv
	alice := NewMaintainer(t, srv, "alice")
	dir := t.TempDir()
	type proj struct {
		name, file, reason string
		content            []byte
	}
	projects := []proj{
		{"kept", "kept-1.0.0.tar.gz", "malware in 1.0.0", []byte("kept 1.0.0\n")},
		{"fresh", "fresh-1.0.0.tar.gz", "typosquat of kept", []byte("fresh 1.0.0\n")},
	}
	for _, p := range projects {
		alice.MustRun("project", "create", p.name, "--key", "alice")
		alice.MustRun("release", "upload", p.name, "1.0.0", WriteFile(t, dir, p.file, p.content))
	}
	rp.admin.MustRun("admin", "claim", "kept", "--keys", rp.keys, "--yes") // fresh stays unclaimed
	dl := admPin(t, srv, rp.fp)
	for _, p := range projects {
		admMustGet(t, dl, p.name, p.file, p.content)
	}

	// A mirror that serves the blob directory and ignores the block. Before
	// the block, go-tuf reads both projects from it.
	mirror := httptest.NewServer(http.FileServer(http.Dir(srv.Blobs)))
	defer mirror.Close()
	mirrored := &Server{URL: mirror.URL}
	roots := admInitialRoots(t, srv)
	cached := map[string]*goTUF{}
	for _, p := range projects {
		shard := layout.ShardOf(p.name, admShards)
		g := newGoTUF(t, mirrored, shard, roots[shard])
		if got := g.download(g.refresh(), layout.FilePath(p.name, "1.0.0", p.file)); !bytes.Equal(got, p.content) {
			t.Fatalf("go-tuf read other bytes of %s from the mirror", p.name)
		}
		cached[p.name] = g
	}

	for _, p := range projects {
		r := rp.admin.MustRun("admin", "block", p.name, "--reason", p.reason, "--keys", rp.keys, "--yes")
		admSays(t, "admin block "+p.name, r.Stderr, "  - block "+p.name+": "+p.reason, "published in 1 shard(s)")
	}
	admSays(t, "admin status", rp.admin.MustRun("admin", "status").Stdout,
		"blocked projects: 2\n", "  kept: malware in 1.0.0\n", "  fresh: typosquat of kept\n", "projects waiting to be claimed: 0\n")
	rp.admin.MustFail("kept is blocked already", "admin", "block", "kept", "--reason", "again", "--keys", rp.keys, "--yes")
	rp.admin.MustFail("fresh is blocked; unblock it instead", "admin", "claim", "fresh", "--keys", rp.keys, "--yes")

	for _, p := range projects {
		// Its web page: the reason, the owners by label, no download pitch
		// and no false "owner change waits for the admins".
		code, page := admStatus(t, srv.URL+"/p/"+p.name)
		if code != http.StatusOK || !strings.Contains(page, p.reason) || !strings.Contains(page, "alice &lt;alice@example.org&gt;") {
			t.Errorf("the blocked %s's web page (%d) lacks its reason or its owner's label", p.name, code)
		}
		for _, unwanted := range []string{"Get it, verified with TUF", `download="`, "waits for the admins", "no label"} {
			if strings.Contains(page, unwanted) {
				t.Errorf("the blocked %s's web page shows %q", p.name, unwanted)
			}
		}
	}
	for _, p := range projects {
		target := layout.FilePath(p.name, "1.0.0", p.file)
		// The CLI says it is blocked, for a user with cached state and a new one.
		for _, u := range []*User{dl, admPin(t, srv, rp.fp)} {
			out := t.TempDir()
			u.MustFail("the project is blocked", "get", p.name, "-o", out)
			mustBeEmpty(t, out)
			u.MustFail("blocked", "get", p.name+"@1.0.0", "-o", out, "--file", p.file)
			mustBeEmpty(t, out)
		}
		// The server answers 410 for its files and its roles' metadata; the
		// mirror serves them all the same. (On replicas, one that did not
		// publish the block learns of it within server.RefreshEvery; its
		// clients are kept safe meanwhile by the metadata, checked above.)
		served := append([]string{"targets/" + layout.TargetBlobPath(target, hexDigest(p.content))}, admRoleFiles(t, srv, p.name)...)
		for _, path := range served {
			code, body := admStatus(t, srv.URL+"/"+path)
			for deadline := time.Now().Add(server.RefreshEvery + 2*time.Second); code != http.StatusGone && time.Now().Before(deadline); {
				time.Sleep(20 * time.Millisecond)
				code, body = admStatus(t, srv.URL+"/"+path)
			}
			if code != http.StatusGone || !strings.Contains(body, p.reason) {
				t.Fatalf("GET %s of blocked %s: %d %q; want 410 with the reason", path, p.name, code, body)
			}
			if code, _ := admStatus(t, mirror.URL+"/"+path); code != http.StatusOK {
				t.Fatalf("the mirror answers %d for %s; the test would prove nothing", code, path)
			}
		}
		// go-tuf refuses the project read from the mirror: the claimed bin
		// delegates it to a key nobody holds. Both with cached metadata and
		// from scratch.
		shard := layout.ShardOf(p.name, admShards)
		for who, g := range map[string]*goTUF{"cached": cached[p.name], "fresh": newGoTUF(t, mirrored, shard, roots[shard])} {
			up := g.updater()
			if err := up.Refresh(); err != nil {
				t.Fatalf("%s go-tuf: refresh from the mirror: %v", who, err)
			}
			info, err := up.GetTargetInfo(target)
			if err == nil {
				t.Fatalf("%s go-tuf trusts %s of blocked %s from the mirror: %+v", who, target, p.name, info)
			}
			var unsigned *metadata.ErrUnsignedMetadata
			if !errors.As(err, &unsigned) {
				t.Fatalf("%s go-tuf refuses %s with %v; want an unsigned-metadata error (the block's delegation)", who, target, err)
			}
			if _, err := up.GetTargetInfo(layout.IndexPath(p.name)); err == nil {
				t.Fatalf("%s go-tuf trusts the index of blocked %s", who, p.name)
			}
		}
	}

	// Unblocking restores the owners: everything works again.
	for _, p := range projects {
		r := rp.admin.MustRun("admin", "unblock", p.name, "--keys", rp.keys, "--yes")
		admSays(t, "admin unblock "+p.name, r.Stderr, "  - unblock "+p.name+" (owners ", "published in 1 shard(s)")
	}
	rp.admin.MustFail("kept is not blocked", "admin", "unblock", "kept", "--keys", rp.keys, "--yes")
	admSays(t, "admin status after unblocking", rp.admin.MustRun("admin", "status").Stdout, "blocked projects: 0\n")
	for _, p := range projects {
		admMustGet(t, dl, p.name, p.file, p.content)
		admMustGet(t, admPin(t, srv, rp.fp), p.name, p.file, p.content)
		// Unblocked, an unclaimed project stays claimed, under its owners.
		admSays(t, "project show "+p.name, dl.MustRun("project", "show", p.name).Stdout, "claimed: only its owners")
		g := cached[p.name]
		if got := g.download(g.refresh(), layout.FilePath(p.name, "1.0.0", p.file)); !bytes.Equal(got, p.content) {
			t.Fatalf("go-tuf read other bytes of %s from the mirror after unblocking", p.name)
		}
		if code, _ := admStatus(t, srv.URL+"/"+admRoleFiles(t, srv, p.name)[0]); code != http.StatusOK {
			t.Fatalf("the server answers %d for %s's metadata after unblocking", code, p.name)
		}
	}
	// And its owner publishes again.
	kept2 := []byte("kept 1.0.1, clean\n")
	alice.MustRun("release", "upload", "kept", "1.0.1", WriteFile(t, dir, "kept-1.0.1.tar.gz", kept2))
	admMustGet(t, dl, "kept", "kept-1.0.1.tar.gz", kept2)
}

// ---------------------------------------------------------------------------
// 3. Renewal of offline metadata.

func TestAdminRenew(t *testing.T) {
	rp := admSetup(t)
	srv := rp.srv
	alice := NewMaintainer(t, srv, "alice")
	dir := t.TempDir()
	v1 := []byte("steady 1.0.0\n")
	alice.MustRun("project", "create", "steady", "--key", "alice")
	alice.MustRun("release", "upload", "steady", "1.0.0", WriteFile(t, dir, "steady-1.0.0.tar.gz", v1))
	rp.admin.MustRun("admin", "claim", "--all", "--keys", rp.keys, "--yes")
	dl := admPin(t, srv, rp.fp)
	admMustGet(t, dl, "steady", "steady-1.0.0.tar.gz", v1)

	// go-tuf clients of every shard, with cached metadata.
	roots := admInitialRoots(t, srv)
	type versions struct {
		root, targets, claimed int64
		expires                [3]time.Time
	}
	clients := map[string]*goTUF{}
	read := func(shard string) versions {
		t.Helper()
		tm := admLoadBins(t, clients[shard].refresh()).GetTrustedMetadataSet()
		bin := tm.Targets[layout.ClaimedRole(shard)]
		if bin == nil {
			t.Fatalf("go-tuf did not load %s", layout.ClaimedRole(shard))
		}
		tg := tm.Targets[metadata.TARGETS]
		return versions{tm.Root.Signed.Version, tg.Signed.Version, bin.Signed.Version,
			[3]time.Time{tm.Root.Signed.Expires, tg.Signed.Expires, bin.Signed.Expires}}
	}
	before := map[string]versions{}
	for s, root := range roots {
		clients[s] = newGoTUF(t, srv, s, root)
		before[s] = read(s)
	}

	// Nothing is due in a new repository.
	r := rp.admin.MustFail("nothing to renew", "admin", "renew", "--keys", rp.keys, "--yes")
	admSays(t, "admin renew", r.Stderr, "no offline metadata is inside its signing period", "--force")

	// Forced, every offline role of every shard gets a new version.
	r = rp.admin.MustRun("admin", "renew", "--force", "--keys", rp.keys, "--yes")
	// New roots: new users pin the new fingerprint, which the ceremony says.
	rp.fp = admNewFingerprint(t, r.Stderr)
	admSays(t, "admin renew --force", r.Stderr, "renew root, valid until ", "renew targets, valid until ", "renew claimed.", "published in 16 shard(s)")
	for s := range roots {
		a, b := before[s], read(s)
		if b.root != a.root+1 || b.targets != a.targets+1 || b.claimed != a.claimed+1 {
			t.Fatalf("shard %s: root v%d → v%d, targets v%d → v%d, %s v%d → v%d; want each +1",
				s, a.root, b.root, a.targets, b.targets, layout.ClaimedRole(s), a.claimed, b.claimed)
		}
		for i := range a.expires {
			if b.expires[i].Before(a.expires[i]) {
				t.Fatalf("shard %s: renewal moved an expiry back: %v → %v", s, a.expires[i], b.expires[i])
			}
		}
		// A new go-tuf client from the version-1 root follows the chain.
		fresh := newGoTUF(t, srv, s, roots[s])
		if v := fresh.refresh().GetTrustedMetadataSet().Root.Signed.Version; v != b.root {
			t.Fatalf("shard %s: a fresh go-tuf client trusts root v%d, want v%d", s, v, b.root)
		}
	}

	// Clients keep working; the claimed project stays claimed and publishes.
	admMustGet(t, dl, "steady", "steady-1.0.0.tar.gz", v1)
	admSays(t, "project show", dl.MustRun("project", "show", "steady").Stdout, "claimed: only its owners")
	admMustGet(t, admPin(t, srv, rp.fp), "steady", "steady-1.0.0.tar.gz", v1)
	v2 := []byte("steady 1.1.0\n")
	alice.MustRun("release", "upload", "steady", "1.1.0", WriteFile(t, dir, "steady-1.1.0.tar.gz", v2))
	admMustGet(t, dl, "steady", "steady-1.1.0.tar.gz", v2)
	shard := layout.ShardOf("steady", admShards)
	if got := clients[shard].download(clients[shard].refresh(), layout.FilePath("steady", "1.1.0", "steady-1.1.0.tar.gz")); !bytes.Equal(got, v2) {
		t.Fatal("go-tuf downloaded other bytes after the renewal")
	}
	// And still nothing is due.
	rp.admin.MustFail("nothing to renew", "admin", "renew", "--keys", rp.keys, "--yes")
}

// ---------------------------------------------------------------------------
// 4. Owner change of a claimed project.

func TestAdminOwnerChange(t *testing.T) {
	rp := admSetup(t)
	srv := rp.srv
	alice := NewMaintainer(t, srv, "alice")
	bob := NewMaintainer(t, srv, "bob")
	carol := NewMaintainer(t, srv, "carol")
	dir := t.TempDir()
	v1 := []byte("handover 1.0.0\n")
	alice.MustRun("project", "create", "handover", "--key", "alice")
	alice.MustRun("release", "upload", "handover", "1.0.0", WriteFile(t, dir, "handover-1.0.0.tar.gz", v1))
	rp.admin.MustRun("admin", "claim", "--all", "--keys", rp.keys, "--yes")
	dl := admPin(t, srv, rp.fp)
	aliceID := admKeyID(t, filepath.Join(alice.Home, "keys", "alice.key"))
	bobID := admKeyID(t, filepath.Join(bob.Home, "keys", "bob.key"))
	bobLine := strings.TrimSpace(bob.MustRun("key", "export", "bob").Stdout)
	carolLine := strings.TrimSpace(carol.MustRun("key", "export", "carol").Stdout)

	// Alice hands the project over to bob: she adds bob as an owner, then
	// removes herself, which the new owner (bob) must approve too.
	r := alice.MustRun("owner", "add", "handover", bobLine, "--yes")
	admSays(t, "owner add", r.Stderr, "add owner key", "bob")
	t.Logf("%s", r.Stderr)
	r = alice.MustRun("owner", "remove", "handover", aliceID[:12], "--yes")
	admSays(t, "owner remove", r.Stderr, "remove owner alice", "waits for more signatures")
	t.Logf("%s", r.Stderr)
	m := admApproveHint.FindStringSubmatch(r.Stderr)
	if m == nil || m[1] != "handover" {
		t.Fatalf("owner remove does not say how to approve:\n%s", r.Stderr)
	}
	id := m[2]
	r = bob.MustRun("approve", "handover", id, "--yes")
	admSays(t, "approve", r.Stderr, "published")
	t.Logf("%s", r.Stderr)

	// The owners' request waits for the admins: alice still owns the project.
	admSays(t, "admin status", rp.admin.MustRun("admin", "status").Stdout, "owner-change requests: 1\n  handover\n")
	show := dl.MustRun("project", "show", "handover").Stdout
	admSays(t, "project show before the ceremony", show, "claimed: only its owners", "owners (1 of 1 must sign owner changes):\n  "+aliceID[:8])
	admMustGet(t, dl, "handover", "handover-1.0.0.tar.gz", v1)

	r = rp.admin.MustRun("admin", "claim", "--all", "--keys", rp.keys, "--yes")
	admSays(t, "admin claim", r.Stderr, "  - change the owners of handover to "+bobID[:8]+", threshold 1", "published in 1 shard(s)")
	admSays(t, "admin status after the ceremony", rp.admin.MustRun("admin", "status").Stdout, "owner-change requests: 0\n")
	show = dl.MustRun("project", "show", "handover").Stdout
	admSays(t, "project show after the ceremony", show, "claimed: only its owners", "owners (1 of 1 must sign owner changes):\n  "+bobID[:8])
	if strings.Contains(strings.Split(show, "maintainers")[0], aliceID[:8]) {
		t.Fatalf("alice is still listed as an owner:\n%s", show)
	}
	admMustGet(t, dl, "handover", "handover-1.0.0.tar.gz", v1)

	// The new owner alone changes the maintainers, at once; the old one cannot.
	alice.MustFail("is not an owner of handover", "maintainer", "add", "handover", carolLine, "--yes")
	r = bob.MustRun("maintainer", "add", "handover", carolLine, "--yes")
	admSays(t, "maintainer add by the new owner", r.Stderr, "add maintainer key", "carol")
	if strings.Contains(r.Stderr, "waits for more signatures") || !strings.Contains(r.Stderr, "published") {
		t.Fatalf("the new owner's change was not published at once:\n%s", r.Stderr)
	}
	v2 := []byte("handover 2.0.0 by carol\n")
	carol.MustRun("release", "upload", "handover", "2.0.0", WriteFile(t, dir, "handover-2.0.0.tar.gz", v2), "--key", "carol")
	admMustGet(t, dl, "handover", "handover-2.0.0.tar.gz", v2)
}

// admNewFingerprint reads the trust fingerprint a ceremony that changed
// every root announces.
func admNewFingerprint(t testing.TB, stderr string) string {
	t.Helper()
	return admMatch(t, regexp.MustCompile(`trust fingerprint is now ([0-9a-f]{64})`), stderr)
}
