package e2e

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/theupdateframework/go-tuf/v2/metadata"
)

// artifactsDir is where browser screenshots go: $HALLMARK_ARTIFACTS, or a
// temporary directory of the test.
func artifactsDir(t *testing.T) string {
	dir := os.Getenv("HALLMARK_ARTIFACTS")
	if dir == "" {
		return t.TempDir()
	}
	dir = filepath.Join(dir, t.Name())
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// newBrowser starts Debian's headless chromium with a fresh profile, or
// skips (fails with HALLMARK_TEST_ALL=1) when it is not installed.
func newBrowser(t *testing.T) context.Context {
	t.Helper()
	path, err := exec.LookPath("chromium")
	needTool(t, "chromium", "install Debian's chromium: apt-get install chromium", err == nil)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(path),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 1000),
	)
	ctx, cancelCtx := chromedp.NewContext(actx)
	ctx, cancelTimeout := context.WithTimeout(ctx, 2*time.Minute)
	t.Cleanup(func() { cancelTimeout(); cancelCtx(); cancelAlloc() })
	return ctx
}

// page drives one browser tab in a test.
type page struct {
	t         *testing.T
	ctx       context.Context
	artifacts string
}

func (p *page) do(what string, actions ...chromedp.Action[chromedp.Void]) {
	p.t.Helper()
	if err := chromedp.Do(p.ctx, actions...); err != nil {
		p.t.Fatalf("%s: %v", what, err)
	}
}

func (p *page) text(sel string) string {
	p.t.Helper()
	s, err := chromedp.Run(p.ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		p.t.Fatalf("text of %s: %v", sel, err)
	}
	return strings.TrimSpace(s)
}

func (p *page) eval(js string) string {
	p.t.Helper()
	s, err := chromedp.Run(p.ctx, chromedp.Evaluate[string](js))
	if err != nil {
		p.t.Fatalf("evaluate %s: %v", js, err)
	}
	return s
}

func (p *page) location() string {
	p.t.Helper()
	u, err := chromedp.Run(p.ctx, chromedp.Location())
	if err != nil {
		p.t.Fatal(err)
	}
	return u
}

// click follows a link and waits for the next page to show sel.
func (p *page) click(link, waitFor string) {
	p.t.Helper()
	p.do("click "+link, chromedp.Click(chromedp.CSS(link)), chromedp.WaitVisible(chromedp.CSS(waitFor)))
}

func (p *page) screenshot(name string) {
	p.t.Helper()
	png, err := chromedp.Run(p.ctx, chromedp.FullScreenshot(100))
	if err != nil {
		p.t.Fatalf("screenshot: %v", err)
	}
	path := filepath.Join(p.artifacts, name+".png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		p.t.Fatal(err)
	}
	p.t.Logf("screenshot: %s", path)
}

// noScript checks that the page runs no script: it has no <script>
// element, however hostile the text it shows.
func (p *page) noScript() {
	p.t.Helper()
	if n := p.eval(`String(document.querySelectorAll("script").length)`); n != "0" {
		p.t.Errorf("%s has %s <script> element(s)", p.location(), n)
	}
}

// TestWebUIInABrowser is a visitor's path through the web UI of a real
// server whose projects were created and released through the CLI: search
// with another spelling of a name, open the project, check what it shows
// against `hallmark project show`, follow the link to its releases role in
// the metadata browser and up the delegation tree.
func TestWebUIInABrowser(t *testing.T) {
	ctx := newBrowser(t)
	srv := StartServer(t)
	alice := NewMaintainer(t, srv, "alice")
	const evil = `<script>alert(1)</script>`
	bob := NewUser(t, srv)
	bob.MustRun("trust", srv.URL, "--yes")
	bob.MustRun("key", "generate", "bob", "--label", evil)
	bobKey := strings.TrimSpace(bob.MustRun("key", "export", "bob").Stdout)

	dir := t.TempDir()
	alice.MustRun("project", "create", "Foo_Bar", "--key", "alice")
	alice.MustRun("release", "upload", "foo-bar", "1.0.0", WriteFile(t, dir, "foo_bar-1.0.0.tar.gz", []byte("one")), "--key", "alice")
	alice.MustRun("release", "upload", "foo-bar", "1.1.0", WriteFile(t, dir, "foo_bar-1.1.0.tar.gz", []byte("one.one")),
		WriteFile(t, dir, "foo_bar-1.1.0-py3-none-any.whl", []byte("wheel")), "--key", "alice")
	alice.MustRun("release", "upload", "foo-bar", "2.0.0-rc.1", WriteFile(t, dir, "foo_bar-2.0.0rc1.tar.gz", []byte("two")), "--key", "alice")
	alice.MustRun("release", "yank", "foo-bar", "1.1.0", "--reason", `"><img src=x onerror=alert(1)> broken`, "--key", "alice", "--yes")
	alice.MustRun("maintainer", "add", "foo-bar", bobKey, "--key", "alice", "--yes")
	alice.MustRun("project", "create", "foo-bazz", "--key", "alice")
	alice.MustRun("project", "create", "unrelated", "--key", "alice")
	var show struct {
		Project     string
		Shard       string
		Latest      string
		Maintainers []struct{ Label string }
	}
	if err := json.Unmarshal([]byte(alice.MustRun("project", "show", "foo-bar", "--json").Stdout), &show); err != nil {
		t.Fatal(err)
	}

	p := &page{t: t, ctx: ctx, artifacts: artifactsDir(t)}
	t.Logf("screenshots in %s", p.artifacts)
	p.do("open the start page", chromedp.Navigate(srv.URL+"/"), chromedp.WaitVisible(chromedp.CSS("form.big input[name=q]")))
	if bg := p.eval(`getComputedStyle(document.querySelector("header.top")).borderBottomStyle`); bg != "solid" {
		t.Errorf("the stylesheet did not load under the Content-Security-Policy (header border %q)", bg)
	}
	// Search with another spelling: FOO_b normalizes to foo-b.
	p.do("search", chromedp.SendKeys(chromedp.CSS("form.big input[name=q]"), "FOO_b"),
		chromedp.Click(chromedp.CSS("form.big button")), chromedp.WaitVisible(chromedp.ID("results")))
	results := p.eval(`Array.from(document.querySelectorAll(".results a")).map(a => a.getAttribute("href")).join(" ")`)
	if results != "/p/foo-bar /p/foo-bazz" {
		t.Errorf("search for FOO_b found %q; want /p/foo-bar /p/foo-bazz", results)
	}
	p.screenshot("1-search")

	p.click(`.results a[href="/p/foo-bar"]`, "#latest")
	if got := p.text("#latest"); got != show.Latest || got != "1.0.0" {
		t.Errorf("project page says latest %q; hallmark project show says %q", got, show.Latest)
	}
	if got := p.text("#get-command"); got != "hallmark get foo-bar" {
		t.Errorf("get command = %q", got)
	}
	maint := p.text(".keys")
	for _, m := range show.Maintainers {
		if !strings.Contains(p.eval(`document.querySelector("main").innerText`), m.Label) {
			t.Errorf("maintainer %q of project show is not on the page", m.Label)
		}
	}
	if !strings.Contains(p.eval(`document.querySelector("main").innerText`), evil) {
		t.Errorf("the hostile label is not shown as text (owners: %q)", maint)
	}
	if !strings.Contains(p.eval(`document.querySelector("main").innerText`), `"><img src=x onerror=alert(1)> broken`) {
		t.Errorf("the hostile yank reason is not shown as text")
	}
	p.noScript()
	p.screenshot("2-project")

	// The releases role in the metadata browser: verified against the
	// owners role, and its version is the one published in the shard.
	p.click(`a[href="/m/`+show.Shard+`/foo-bar.releases"]`, "#role-status")
	if got := p.text("#role-status"); got != "verified" {
		t.Errorf("releases role status = %q", got)
	}
	version := p.eval(`document.querySelectorAll("dl.facts dd")[1].innerText`)
	if _, err := os.Stat(srv.BlobPath("metadata/" + show.Shard + "/" + version + ".foo-bar.releases.json")); err != nil {
		t.Errorf("the page shows version %s, which is not the published file: %v", version, err)
	}
	// Alice signed the last change; Bob, a maintainer since, did not.
	if sigs := p.eval(`Array.from(document.querySelectorAll(".sig-status")).map(e => e.innerText).join(",")`); sigs != "valid,not signed" {
		t.Errorf("signature rows = %q; want valid,not signed", sigs)
	}
	p.noScript()
	p.screenshot("3-releases-role")

	// Up the tree: the owners role, then the bin that delegates it.
	p.click(`.crumbs a[href="/m/`+show.Shard+`/new.`+show.Shard+`"]`, "#role-status")
	if got := p.text("#role-status"); got != "verified" {
		t.Errorf("new bin status = %q", got)
	}
	if !strings.Contains(p.eval(`document.querySelector("#delegations + .table-wrap").innerText`), "foo-bar") {
		t.Errorf("the bin's delegations do not list foo-bar")
	}
	p.screenshot("4-new-bin")
	p.click(`a[href="/m/`+show.Shard+`"]`, ".tree")
	if n := p.eval(`String(document.querySelectorAll(".tree .badge.ok").length)`); n != "6" {
		t.Errorf("shard tree shows %s verified roles; want 6", n)
	}
	p.screenshot("5-shard")
}

// inspectSummary is what `hallmark inspect --json` prints.
type inspectSummary struct {
	Index string
	Sites []struct {
		Dir      string
		Roles    int
		Verified int
		Failed   []string
		Problems []string
	} `json:"repositories"`
}

func runInspect(t *testing.T, u *User, args ...string) inspectSummary {
	t.Helper()
	var s inspectSummary
	out := u.MustRun(append([]string{"inspect"}, append(args, "--json")...)...)
	if err := json.Unmarshal([]byte(out.Stdout), &s); err != nil {
		t.Fatalf("inspect --json: %v\n%s", err, out.Stdout)
	}
	return s
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestInspectGoTUFRepository renders a repository written by go-tuf:
// targets delegating to two roles, one delegating further, and checks the
// pages; then breaks one signature and checks it is shown as failing.
func TestInspectGoTUFRepository(t *testing.T) {
	repo := t.TempDir()
	writeGoTUFRepo(t, repo)
	u := &User{t: t, Home: t.TempDir()}
	out := filepath.Join(t.TempDir(), "site")
	s := runInspect(t, u, repo, "-o", out)
	if len(s.Sites) != 1 || s.Sites[0].Roles != 7 || s.Sites[0].Verified != 7 || len(s.Sites[0].Failed) != 0 {
		t.Fatalf("summary = %+v", s)
	}
	index := readFile(t, filepath.Join(out, "index.html"))
	for _, role := range []string{"root", "timestamp", "snapshot", "targets", "alpha", "beta", "gamma"} {
		if !strings.Contains(index, `href="`+role+`.html"`) {
			t.Errorf("index.html does not link to %s", role)
		}
		page := readFile(t, filepath.Join(out, role+".html"))
		if !strings.Contains(page, `id="role-status">verified<`) {
			t.Errorf("%s.html does not say verified", role)
		}
	}
	gamma := readFile(t, filepath.Join(out, "gamma.html"))
	if !strings.Contains(gamma, `<a href="beta.html">beta</a> ›`) || !strings.Contains(readFile(t, filepath.Join(out, "beta.html")), `<a href="gamma.html">gamma</a>`) {
		t.Errorf("gamma and beta do not link to each other in the tree")
	}

	tamperSignature(t, filepath.Join(repo, "1.gamma.json"))
	out2 := filepath.Join(t.TempDir(), "site")
	r := u.MustRun("inspect", repo, "-o", out2)
	if !strings.Contains(r.Stderr, "warning: gamma does not verify") {
		t.Errorf("inspect did not warn about gamma: %s", r.Stderr)
	}
	gamma = readFile(t, filepath.Join(out2, "gamma.html"))
	if !strings.Contains(gamma, `id="role-status">signature check failed<`) || !strings.Contains(gamma, ">invalid<") {
		t.Errorf("the tampered signature of gamma is not shown as failing")
	}
	if !strings.Contains(readFile(t, filepath.Join(out2, "index.html")), `id="failed-count">1<`) {
		t.Errorf("index does not count one failed role")
	}
}

// TestInspectHallmarkRepository renders a real server's shards, from its
// URL and from its blob directory.
func TestInspectHallmarkRepository(t *testing.T) {
	srv := StartServer(t)
	alice := NewMaintainer(t, srv, "alice")
	alice.MustRun("project", "create", "demo-pkg", "--key", "alice")
	alice.MustRun("release", "upload", "demo-pkg", "1.0.0", WriteFile(t, t.TempDir(), "demo-1.0.0.tar.gz", []byte("demo")), "--key", "alice")
	shard := showShard(t, alice, "demo-pkg")

	out := filepath.Join(t.TempDir(), "url")
	s := runInspect(t, alice, srv.URL, "-o", out, "--shard", shard)
	if len(s.Sites) != 1 || s.Sites[0].Roles != 8 || s.Sites[0].Verified != 8 || len(s.Sites[0].Problems) != 0 {
		t.Fatalf("inspect of shard %s over HTTP: %+v", shard, s)
	}
	page := readFile(t, filepath.Join(out, shard, "demo-pkg.releases.html"))
	for _, want := range []string{`id="role-status">verified<`, "demo-pkg/1.0.0/demo-1.0.0.tar.gz", `<a href="new.` + shard + `.html">new.` + shard + `</a>`, "releases role of project demo-pkg"} {
		if !strings.Contains(page, want) {
			t.Errorf("demo-pkg.releases.html does not show %q", want)
		}
	}

	all := filepath.Join(t.TempDir(), "blobs")
	s = runInspect(t, alice, srv.Blobs, "-o", all)
	if len(s.Sites) != 16 {
		t.Fatalf("inspect of the blob directory rendered %d shards; want 16", len(s.Sites))
	}
	for _, site := range s.Sites {
		if len(site.Failed) != 0 || site.Verified != site.Roles {
			t.Errorf("shard %s: %+v", site.Dir, site)
		}
	}
	if !strings.Contains(readFile(t, filepath.Join(all, "index.html")), `href="`+shard+`/index.html"`) {
		t.Errorf("the list of shards does not link to shard %s", shard)
	}
}

func showShard(t *testing.T, u *User, project string) string {
	var v struct{ Shard string }
	if err := json.Unmarshal([]byte(u.MustRun("project", "show", project, "--json").Stdout), &v); err != nil {
		t.Fatal(err)
	}
	return v.Shard
}

// tufKey is a go-tuf signer with its public key.
type tufKey struct {
	s   signature.Signer
	key *metadata.Key
	id  string
}

func newTUFKey(t *testing.T, ecdsaKey bool) tufKey {
	var s signature.Signer
	var pub crypto.PublicKey
	var err error
	if ecdsaKey {
		priv, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		s, err = signature.LoadECDSASigner(priv, crypto.SHA256)
		pub = priv.Public()
	} else {
		p, priv, _ := ed25519.GenerateKey(rand.Reader)
		s, err = signature.LoadED25519Signer(priv)
		pub = p
	}
	if err != nil {
		t.Fatal(err)
	}
	k, err := metadata.KeyFromPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	id, _ := k.ID()
	return tufKey{s: s, key: k, id: id}
}

// writeGoTUFRepo writes a consistent-snapshot repository with go-tuf's
// metadata API: targets delegates to alpha and beta, beta to gamma.
func writeGoTUFRepo(t *testing.T, dir string) {
	t.Helper()
	exp := time.Now().Add(30 * 24 * time.Hour).UTC().Truncate(time.Second)
	rootK, tsK, snapK, targK := newTUFKey(t, false), newTUFKey(t, false), newTUFKey(t, false), newTUFKey(t, false)
	alphaK, betaK, gammaK := newTUFKey(t, false), newTUFKey(t, false), newTUFKey(t, true)
	write := func(name string, md interface {
		Sign(signature.Signer) (*metadata.Signature, error)
		ToBytes(bool) ([]byte, error)
	}, k tufKey) []byte {
		if _, err := md.Sign(k.s); err != nil {
			t.Fatal(err)
		}
		b, err := md.ToBytes(false)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
		return b
	}
	tf := func(s string) *metadata.TargetFiles {
		sum := sha256.Sum256([]byte(s))
		return &metadata.TargetFiles{Length: int64(len(s)), Hashes: metadata.Hashes{"sha256": sum[:]}}
	}
	root := metadata.Root(exp)
	root.Signed.ConsistentSnapshot = true
	for role, k := range map[string]tufKey{"root": rootK, "timestamp": tsK, "snapshot": snapK, "targets": targK} {
		root.Signed.AddKey(k.key, role)
	}
	write("1.root.json", root, rootK)
	gamma := metadata.Targets(exp)
	gamma.Signed.Targets["beta/gamma/g.txt"] = tf("g")
	write("1.gamma.json", gamma, gammaK)
	beta := metadata.Targets(exp)
	beta.Signed.Targets["beta/b.txt"] = tf("b")
	beta.Signed.Delegations = &metadata.Delegations{Keys: map[string]*metadata.Key{gammaK.id: gammaK.key},
		Roles: []metadata.DelegatedRole{{Name: "gamma", KeyIDs: []string{gammaK.id}, Threshold: 1, Terminating: true, Paths: []string{"beta/gamma/*"}}}}
	write("1.beta.json", beta, betaK)
	alpha := metadata.Targets(exp)
	alpha.Signed.Targets["alpha/a.txt"] = tf("a")
	write("1.alpha.json", alpha, alphaK)
	targets := metadata.Targets(exp)
	targets.Signed.Delegations = &metadata.Delegations{Keys: map[string]*metadata.Key{alphaK.id: alphaK.key, betaK.id: betaK.key},
		Roles: []metadata.DelegatedRole{
			{Name: "alpha", KeyIDs: []string{alphaK.id}, Threshold: 1, Paths: []string{"alpha/*"}},
			{Name: "beta", KeyIDs: []string{betaK.id}, Threshold: 1, Paths: []string{"beta/*"}},
		}}
	write("1.targets.json", targets, targK)
	snap := metadata.Snapshot(exp)
	for _, r := range []string{"targets", "alpha", "beta", "gamma"} {
		snap.Signed.Meta[r+".json"] = metadata.MetaFile(1)
	}
	snapBytes := write("1.snapshot.json", snap, snapK)
	ts := metadata.Timestamp(exp)
	sum := sha256.Sum256(snapBytes)
	ts.Signed.Meta["snapshot.json"] = &metadata.MetaFiles{Version: 1, Length: int64(len(snapBytes)), Hashes: metadata.Hashes{"sha256": sum[:]}}
	write("timestamp.json", ts, tsK)
}

// tamperSignature changes one hex digit of a file's first signature.
func tamperSignature(t *testing.T, path string) {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(readFile(t, path)), &m); err != nil {
		t.Fatal(err)
	}
	sig := m["signatures"].([]any)[0].(map[string]any)
	s := sig["sig"].(string)
	sig["sig"] = s[:20] + fmt.Sprintf("%x", (int(s[20]-'0')+1)%10) + s[21:]
	b, _ := json.Marshal(m)
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}
