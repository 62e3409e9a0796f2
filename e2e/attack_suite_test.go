package e2e

// The attack suite: one table of attacks run against a repository of 1
// shard and one of 16 (one `hallmark serve` each, shared by every case of
// that shard count), against a claimed and an unclaimed project, with fresh
// and warm clients (hallmark's client and go-tuf's updater). Each case
// names the attacker's capability and the refusal it must meet;
// docs/security.md lists the cases (TestAttackSuiteIsDocumented checks it).

import (
	"bytes"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"hallmark.dev/hallmark/layout"
	"hallmark.dev/hallmark/server"
	"hallmark.dev/hallmark/signing"
)

// Attacker capabilities, as docs/security.md names them.
const (
	capOutsider   = "outsider"
	capMaintainer = "stolen maintainer key below threshold"
	// capOwnKey is a maintainer acting with the project's own key: what
	// it signs is refused only where it breaks the repository's rules.
	capOwnKey     = "a maintainer of the project"
	capServerCode = "server code"
	capDatabase   = "database rows"
	capBlobs      = "blob store"
	capOnline     = "online keys"
	capMirror     = "a mirror or CDN"
	capNetwork    = "a network attacker"
)

// suiteShardCounts are the shard counts every case runs with.
var suiteShardCounts = []int{1, 16}

// suiteProject is a project the client-side attacks target.
type suiteProject struct {
	kind  string // "claimed" or "unclaimed"
	name  string
	shard string
	root  []byte // version 1 of the shard's root: a go-tuf client's pin
	// warmGoTUF and mirrorGoTUF are go-tuf clients that refreshed the
	// shard before any attack, directly and through the mirror.
	warmGoTUF, mirrorGoTUF *goTUF
	// warmJS and mirrorJS are the caches of tuf-js clients that read
	// the shard before any attack ("" without tuf-js).
	warmJS, mirrorJS string
	latest           string // the newest release alice published
	n                int    // releases published so far
}

// target is the one file of release v.
func (p *suiteProject) target(v string) string {
	return layout.FilePath(p.name, v, p.name+"-"+v+".tar.gz")
}

// content is what alice signed for release v.
func (p *suiteProject) content(v string) []byte {
	return []byte(p.name + " " + v + ", signed by alice\n")
}

// suiteRepo is one running repository and its users.
type suiteRepo struct {
	shards           int
	srv              *Server
	att              *attacker
	mirror           *suiteMirror
	alice, bob       *User
	aliceKey, bobKey *signing.Key
	projects         []*suiteProject
	// duo is an unclaimed project maintained by alice and bob with a
	// releases threshold of 2.
	duo string
	// warm and mirrorWarm are hallmark users who read every project before
	// the attacks, directly and through the mirror; verifier reads state.
	warm, mirrorWarm, verifier *User
	// node and jsDir run tuf-js ("" when it is not installed).
	node, jsDir string
}

// newSuiteRepo starts a repository of the given shard count with a claimed
// project, an unclaimed one, a two-maintainer project, and warm clients.
func newSuiteRepo(t *testing.T, shards int) *suiteRepo {
	t.Helper()
	srv := StartServer(t, "--shards", fmt.Sprint(shards))
	r := &suiteRepo{shards: shards, srv: srv, att: newAttacker(t, srv), duo: "duo-pair"}
	r.alice = NewMaintainer(t, srv, "alice")
	r.bob = NewMaintainer(t, srv, "bob")
	r.aliceKey, r.bobKey = loadUserKey(t, r.alice, "alice"), loadUserKey(t, r.bob, "bob")
	dir := t.TempDir()
	tr := fetchTrust(t, srv)
	for _, kind := range []string{"claimed", "unclaimed"} {
		name := map[string]string{"claimed": "fort-knox", "unclaimed": "open-door"}[kind]
		p := &suiteProject{kind: kind, name: name, shard: layout.ShardOf(name, shards)}
		r.alice.MustRun("project", "create", name, "--key", "alice")
		r.release(t, p)
		r.release(t, p)
		p.root = fetchInitialRoot(t, srv, tr, p.shard)
		r.projects = append(r.projects, p)
	}
	admin := NewUser(t, srv)
	admin.MustRun("trust", srv.URL, "--yes")
	admin.MustRun("admin", "claim", "fort-knox", "--keys", filepath.Join(srv.Data, server.DevKeysDir), "--yes", "-o", filepath.Join(dir, "claim.json"))
	govTwoMaintainers(t, r.alice, r.bob, r.duo, WriteFile(t, dir, "duo-pair-1.0.0.tar.gz", []byte("duo-pair 1.0.0")))

	if shards == 1 {
		// tuf-js starts a node process per download: it runs against one
		// shard count only, the one the other tuf-js tests do not use,
		// and the claimed project only (jsFunc).
		r.node, r.jsDir = suiteNode(t)
	}
	r.mirror = newSuiteMirror(t, srv.URL)
	r.warm = pinnedUser(t, srv, "")
	r.mirrorWarm = r.mirror.user(t, srv)
	r.verifier = pinnedUser(t, srv, "")
	r.warm.MustRun("versions", r.duo)
	for _, p := range r.projects {
		if got := govVersions(t, r.verifier, p.name).Claimed; got != (p.kind == "claimed") {
			t.Fatalf("%s: claimed = %v", p.name, got)
		}
		p.warmGoTUF = newGoTUF(t, srv, p.shard, p.root)
		p.mirrorGoTUF = r.mirror.goTUF(t, p)
		if r.node != "" && p.kind == "claimed" {
			p.warmJS, p.mirrorJS = t.TempDir(), t.TempDir()
		}
		r.mustAccept(t, p, true)
	}
	return r
}

// release publishes the project's next release, as alice.
func (r *suiteRepo) release(t *testing.T, p *suiteProject) string {
	t.Helper()
	p.n++
	v := fmt.Sprintf("1.0.%d", p.n)
	r.alice.MustRun("release", "upload", p.name, v, WriteFile(t, t.TempDir(), p.name+"-"+v+".tar.gz", p.content(v)))
	p.latest = v
	return v
}

// clients are the clients of one route to the repository: hallmark,
// go-tuf and tuf-js, fresh and warm.
type clients struct {
	fresh    func(t *testing.T) *User
	warm     *User
	freshTUF func(t *testing.T) *goTUF
	warmTUF  *goTUF
	// js returns a tuf-js client (nil without tuf-js); warmJS is the
	// cache of the warm one.
	js        func(t *testing.T) *tufJS
	warmJS    string
	described string
}

// suiteNode returns node and the tuf-js project, or "" when they are not
// installed (with HALLMARK_TEST_ALL=1 that fails the test).
func suiteNode(t *testing.T) (node, dir string) {
	t.Helper()
	if os.Getenv("HALLMARK_TEST_ALL") == "" {
		if _, err := exec.LookPath("node"); err != nil {
			t.Log("no node: the attack suite runs without tuf-js")
			return "", ""
		}
		if _, err := os.Stat(filepath.Join("tufjs", "node_modules")); err != nil {
			t.Log("no e2e/tufjs/node_modules (cd e2e/tufjs && npm ci): the attack suite runs without tuf-js")
			return "", ""
		}
	}
	return needNodeProject(t, "tufjs")
}

// newJS is a tuf-js client of p's shard at base ("" for the server).
func (r *suiteRepo) newJS(t *testing.T, p *suiteProject, base string) *tufJS {
	if base == "" {
		base = r.srv.URL
	}
	return &tufJS{
		t: t, node: r.node, script: filepath.Join(r.jsDir, "get.mjs"),
		metadataURL: base + "/metadata/" + p.shard + "/", targetsURL: base + "/targets/",
		rootFile: WriteFile(t, t.TempDir(), "root.json", p.root),
	}
}

// direct are the clients that talk to the server itself.
func (r *suiteRepo) direct(p *suiteProject) clients {
	return clients{
		fresh:     func(t *testing.T) *User { return pinnedUser(t, r.srv, "") },
		warm:      r.warm,
		freshTUF:  func(t *testing.T) *goTUF { return newGoTUF(t, r.srv, p.shard, p.root) },
		warmTUF:   p.warmGoTUF,
		js:        r.jsFunc(p, ""),
		warmJS:    p.warmJS,
		described: "direct",
	}
}

// jsFunc returns tuf-js clients of p, or nil when tuf-js does not run for
// p: it runs with one shard count and one project (a node process per
// download costs seconds on a loaded machine), the claimed one.
func (r *suiteRepo) jsFunc(p *suiteProject, base string) func(t *testing.T) *tufJS {
	if r.node == "" || p.warmJS == "" {
		return nil
	}
	return func(t *testing.T) *tufJS { return r.newJS(t, p, base) }
}

// viaMirror are the clients that reach the repository through the mirror.
func (r *suiteRepo) viaMirror(p *suiteProject) clients {
	return clients{
		fresh:     func(t *testing.T) *User { return r.mirror.user(t, r.srv) },
		warm:      r.mirrorWarm,
		freshTUF:  func(t *testing.T) *goTUF { return r.mirror.goTUF(t, p) },
		warmTUF:   p.mirrorGoTUF,
		js:        r.jsFunc(p, r.mirror.srv.URL),
		warmJS:    p.mirrorJS,
		described: "through the mirror",
	}
}

// mustAccept checks that every client, direct and through the mirror,
// downloads the newest release with alice's bytes: the attacks' baseline,
// so that no refusal below passes for a broken setup. (The warm clients
// belong to the parent test: their failures are reported here, on t.)
// tuf-js, which takes a node process per download, is checked only when
// withJS is set (at setup, and by warmUp before each attack that needs it).
func (r *suiteRepo) mustAccept(t *testing.T, p *suiteProject, withJS bool) {
	t.Helper()
	for _, c := range []clients{r.direct(p), r.viaMirror(p)} {
		for _, u := range []*User{c.warm, c.fresh(t)} {
			out := t.TempDir()
			res := u.Run("get", p.name+"@"+p.latest, "-o", out)
			got, err := os.ReadFile(filepath.Join(out, p.name+"-"+p.latest+".tar.gz"))
			if res.Code != 0 || err != nil || !bytes.Equal(got, p.content(p.latest)) {
				t.Fatalf("%s: hallmark get %s@%s = %q, %v:\n%s", c.described, p.name, p.latest, got, err, res.Stderr)
			}
		}
		for _, g := range []*goTUF{c.warmTUF, c.freshTUF(t)} {
			if err := goTUFGet(g, p.target(p.latest)); err != nil {
				t.Fatalf("%s: go-tuf: %v", c.described, err)
			}
			if got, err := os.ReadFile(g.localTarget(p.target(p.latest))); err != nil || !bytes.Equal(got, p.content(p.latest)) {
				t.Fatalf("%s: go-tuf downloaded %q, %v", c.described, got, err)
			}
		}
		if c.js != nil && withJS {
			if got := c.js(t).mustGet(p.target(p.latest), c.warmJS); !bytes.Equal(got, p.content(p.latest)) {
				t.Fatalf("%s: warm tuf-js downloaded %q", c.described, got)
			}
		}
	}
}

// mustRefuse checks that fresh and warm clients of c refuse release v of p:
// hallmark get fails saying want and saves nothing; go-tuf fails to
// refresh, to find the target or to download it.
func mustRefuse(t *testing.T, c clients, p *suiteProject, v, want string) {
	t.Helper()
	for who, u := range map[string]*User{"fresh": c.fresh(t), "warm": c.warm} {
		out := t.TempDir()
		res := u.Run("get", p.name+"@"+v, "-o", out)
		if res.Code == 0 || !strings.Contains(res.Stderr, want) {
			t.Errorf("%s %s hallmark get %s@%s: exit %d; want a failure saying %q:\n%s", who, c.described, p.name, v, res.Code, want, res.Stderr)
		}
		mustBeEmpty(t, out)
	}
	for who, g := range map[string]*goTUF{"fresh": c.freshTUF(t), "warm": c.warmTUF} {
		if err := goTUFGet(g, p.target(v)); err == nil {
			t.Errorf("%s %s go-tuf downloaded %s", who, c.described, p.target(v))
		} else {
			t.Logf("%s %s go-tuf: %v", who, c.described, err)
		}
	}
	if c.js == nil {
		return
	}
	for who, cache := range map[string]string{"fresh": t.TempDir(), "warm": c.warmJS} {
		out := filepath.Join(t.TempDir(), "out")
		if res := c.js(t).get(p.target(v), out, cache); res.Code == 0 {
			t.Errorf("%s %s tuf-js downloaded %s", who, c.described, p.target(v))
		} else {
			t.Logf("%s %s tuf-js: %s", who, c.described, lastLine(res.Stderr))
		}
		if _, err := os.Stat(out); err == nil {
			t.Errorf("%s %s tuf-js wrote %s", who, c.described, out)
		}
	}
}

// lastLine is the last non-empty line of s.
func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

// goTUFGet refreshes, finds and downloads target with a new updater.
func goTUFGet(g *goTUF, target string) error {
	up := g.updater()
	if err := up.Refresh(); err != nil {
		return err
	}
	info, err := up.GetTargetInfo(target)
	if err != nil {
		return err
	}
	_, _, err = up.DownloadTarget(info, "", "")
	return err
}

// suiteMirror is a mirror (or CDN, or anyone on the network path) in front
// of the server: it passes everything through, except that it answers the
// paths ending in its endless suffix with data that never ends.
type suiteMirror struct {
	srv     *httptest.Server
	endless atomic.Value // string; "" passes everything
	sent    atomic.Int64 // bytes of endless data sent
	// swap, when set, is served instead of the upstream's answer for
	// the path it names.
	swap atomic.Pointer[mirrorSwap]
	// shardSwap, when set, serves the metadata of shard [1] under the
	// URLs of shard [0].
	shardSwap atomic.Pointer[[2]string]
}

// mirrorSwap is one path the mirror answers with other bytes.
type mirrorSwap struct {
	path string
	data []byte
}

func newSuiteMirror(t testing.TB, upstream string) *suiteMirror {
	t.Helper()
	u, err := url.Parse(upstream)
	if err != nil {
		t.Fatal(err)
	}
	m := &suiteMirror{}
	m.endless.Store("")
	proxy := httputil.NewSingleHostReverseProxy(u)
	spaces := bytes.Repeat([]byte(" "), 64<<10)
	m.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if sw := m.swap.Load(); sw != nil && req.URL.Path == sw.path {
			w.Write(sw.data)
			return
		}
		if sw := m.shardSwap.Load(); sw != nil && strings.HasPrefix(req.URL.Path, "/metadata/"+sw[0]+"/") {
			req = req.Clone(req.Context())
			req.URL.Path = "/metadata/" + sw[1] + "/" + strings.TrimPrefix(req.URL.Path, "/metadata/"+sw[0]+"/")
			req.URL.RawPath = ""
		}
		suffix := m.endless.Load().(string)
		if suffix == "" || !strings.HasSuffix(req.URL.Path, suffix) {
			proxy.ServeHTTP(w, req)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		// At most 4 GiB, so that a client without a limit fails the
		// test rather than hanging it.
		chunk := []byte(`{"signed":`)
		for range 1 << 16 {
			n, err := w.Write(chunk)
			m.sent.Add(int64(n))
			if err != nil {
				return
			}
			chunk = spaces
		}
	}))
	t.Cleanup(m.srv.Close)
	return m
}

// user is a new hallmark user who knows the repository only through the
// mirror, and pinned it while the mirror passed everything through.
func (m *suiteMirror) user(t testing.TB, srv *Server) *User {
	t.Helper()
	u := NewUser(t, srv)
	u.Repo = m.srv.URL
	u.Env = append(u.Env, "HALLMARK_REPO="+m.srv.URL)
	saved, swap, shards := m.endless.Swap(""), m.swap.Swap(nil), m.shardSwap.Swap(nil)
	defer func() { m.endless.Store(saved); m.swap.Store(swap); m.shardSwap.Store(shards) }()
	u.MustRun("trust", m.srv.URL, "--yes")
	return u
}

// goTUF is a new go-tuf client of p's shard, through the mirror.
func (m *suiteMirror) goTUF(t testing.TB, p *suiteProject) *goTUF {
	dir := t.TempDir()
	return &goTUF{
		t: t, root: p.root,
		metadataURL: m.srv.URL + "/metadata/" + p.shard + "/",
		targetsURL:  m.srv.URL + "/targets/",
		metaDir:     filepath.Join(dir, "metadata"),
		targetsDir:  filepath.Join(dir, "targets"),
	}
}

// TestAttackSuite runs every attack of clientAttacks and writeAttacks
// against a repository of each shard count in suiteShardCounts.
func TestAttackSuite(t *testing.T) {
	for _, shards := range suiteShardCounts {
		t.Run(fmt.Sprintf("S=%d", shards), func(t *testing.T) {
			r := newSuiteRepo(t, shards)
			runClientAttacks(t, r)
			runWriteAttacks(t, r)
			runFinalAttacks(t, r)
		})
	}
}
