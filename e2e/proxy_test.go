package e2e

// `hallmark proxy` with the real pip and npm: a maintainer publishes a tiny
// wheel, sdist and npm package with `hallmark release upload`; a downloader
// installs them through the proxy and imports/requires them; yanked
// releases are skipped unless pinned; a tampered stored file makes pip and
// npm fail with the proxy's verification message and installs nothing.

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"hallmark.dev/hallmark/layout"
	"hallmark.dev/hallmark/signing"
)

const (
	proxyProject = "hm-demo" // pip's distribution hm_demo, module hm_demo; npm's hm-demo
	proxyModule  = "hm_demo"
)

// publishDemo creates proxyProject and uploads each version with a wheel, an
// sdist, an npm tarball and a file neither view lists. It returns the files
// uploaded, by version.
func publishDemo(t testing.TB, alice *User, versions ...string) map[string][]string {
	t.Helper()
	alice.MustRun("project", "create", proxyProject, "--key", "alice")
	files := map[string][]string{}
	for _, v := range versions {
		dir := t.TempDir()
		fs := []string{
			buildWheel(t, dir, proxyProject, v),
			buildSdist(t, dir, proxyProject, v),
			buildNpmPackage(t, dir, proxyProject+"-"+v+".tgz", proxyProject, v),
			WriteFile(t, dir, "NOTES.txt", []byte("not a package\n")),
		}
		alice.MustRun(append([]string{"release", "upload", proxyProject, v}, fs...)...)
		files[v] = fs
	}
	return files
}

func TestProxyInstallsWithPipAndNpm(t *testing.T) {
	v := newVenv(t)
	n := newNpmDir(t)
	srv := StartServer(t)
	alice := NewMaintainer(t, srv, "alice")
	publishDemo(t, alice, "1.0.0", "1.1.0", "2.0.0")
	alice.MustRun("release", "yank", proxyProject, "2.0.0", "--reason", "breaks the frobnicator", "--yes")

	bob := NewUser(t, srv)
	bob.MustRun("trust", srv.URL, "--yes")
	px := StartProxy(t, bob)
	index, registry := px.URL+"/pypi/simple/", px.URL+"/npm/"

	t.Run("pip installs the latest release that is not yanked", func(t *testing.T) {
		if code, out := v.pip(index, proxyProject); code != 0 {
			t.Fatalf("pip install %s: exit %d\n%s\nproxy:\n%s", proxyProject, code, out, px.Log())
		}
		if got := v.imported(proxyModule); got != "1.1.0" {
			t.Fatalf("import %s: VERSION %q; want 1.1.0 (2.0.0 is yanked)", proxyModule, got)
		}
	})
	t.Run("pip installs a yanked release pinned exactly, and says why it was yanked", func(t *testing.T) {
		code, out := v.pip(index, proxyProject+"==2.0.0")
		if code != 0 {
			t.Fatalf("pip install %s==2.0.0: exit %d\n%s", proxyProject, code, out)
		}
		if !strings.Contains(out, "breaks the frobnicator") {
			t.Errorf("pip did not show the yank reason:\n%s", out)
		}
		if got := v.imported(proxyModule); got != "2.0.0" {
			t.Fatalf("import %s: VERSION %q; want 2.0.0", proxyModule, got)
		}
	})
	t.Run("pip builds and installs the sdist", func(t *testing.T) {
		code, out := v.pip(index, "--no-binary", proxyProject, "--force-reinstall", proxyProject+"==1.0.0")
		if code != 0 {
			t.Fatalf("pip install --no-binary %s==1.0.0: exit %d\n%s", proxyProject, code, out)
		}
		if !strings.Contains(out, proxyModule+"-1.0.0.tar.gz") {
			t.Errorf("pip did not use the sdist:\n%s", out)
		}
		if got := v.imported(proxyModule); got != "1.0.0" {
			t.Fatalf("import %s: VERSION %q; want 1.0.0", proxyModule, got)
		}
	})
	t.Run("npm installs the latest release that is not yanked", func(t *testing.T) {
		if code, out := n.install(registry, proxyProject); code != 0 {
			t.Fatalf("npm install %s: exit %d\n%s\nproxy:\n%s", proxyProject, code, out, px.Log())
		}
		if got := n.required(proxyProject); got != "1.1.0" {
			t.Fatalf("require(%q).version = %q; want 1.1.0 (2.0.0 is yanked)", proxyProject, got)
		}
	})
	t.Run("npm installs a yanked release named exactly, as deprecated", func(t *testing.T) {
		code, out := n.install(registry, proxyProject+"@2.0.0")
		if code != 0 {
			t.Fatalf("npm install %s@2.0.0: exit %d\n%s", proxyProject, code, out)
		}
		if !strings.Contains(out, "breaks the frobnicator") {
			t.Errorf("npm did not show the yank reason as a deprecation:\n%s", out)
		}
		if got := n.required(proxyProject); got != "2.0.0" {
			t.Fatalf("require(%q).version = %q; want 2.0.0", proxyProject, got)
		}
	})
	t.Run("every download is logged once verified", func(t *testing.T) {
		for _, f := range []string{proxyModule + "-1.1.0-py3-none-any.whl", proxyModule + "-2.0.0-py3-none-any.whl",
			proxyModule + "-1.0.0.tar.gz", proxyProject + "-1.1.0.tgz", proxyProject + "-2.0.0.tgz"} {
			if !strings.Contains(px.Log(), `"msg":"verified"`) || !strings.Contains(px.Log(), `"file":"`+f+`"`) {
				t.Errorf("the proxy's JSON log has no verified download of %s:\n%s", f, px.Log())
			}
		}
	})
	t.Run("the pages list only packages, with hashes and yanks", func(t *testing.T) {
		code, page := admStatus(t, index+proxyProject+"/")
		if code != 200 || strings.Contains(page, "NOTES.txt") || strings.Contains(page, ".tgz") ||
			!strings.Contains(page, `data-yanked="breaks the frobnicator"`) || !strings.Contains(page, "#sha256=") {
			t.Errorf("simple page: HTTP %d\n%s", code, page)
		}
		code, list := admStatus(t, index)
		if code != 200 || !strings.Contains(list, `href="`+proxyProject+`/"`) {
			t.Errorf("project list: HTTP %d\n%s", code, list)
		}
		code, doc := admStatus(t, registry+proxyProject)
		if code != 200 || !strings.Contains(doc, `"latest":"1.1.0"`) || !strings.Contains(doc, `"integrity":"sha512-`) {
			t.Errorf("npm document: HTTP %d\n%s", code, doc)
		}
	})
	t.Run("bad and unknown names get a clear error", func(t *testing.T) {
		for _, tc := range []struct {
			path string
			code int
			says string
		}{
			{"/npm/@scope%2Fpkg", 400, "Hallmark has no npm scopes"},
			{"/npm/HM_Demo", 404, `Hallmark names it \"hm-demo\"`},
			{"/pypi/simple/no-such-project/", 404, "project not found: no-such-project"},
			{"/files/" + proxyProject + "/9.9.9/x.whl", 404, "hm-demo has no version 9.9.9"},
			{"/files/" + proxyProject + "/1.0.0/x.whl", 404, "hm-demo 1.0.0 has no file x.whl"},
		} {
			if code, body := admStatus(t, px.URL+tc.path); code != tc.code || !strings.Contains(body, tc.says) {
				t.Errorf("GET %s: HTTP %d %q; want %d saying %q", tc.path, code, body, tc.code, tc.says)
			}
		}
	})
}

// After a stored file is tampered with on the server, a proxy that has not
// verified it before refuses it, pip and npm fail with its message, and
// nothing is installed.
func TestAttackProxyTamperedFile(t *testing.T) {
	v := newVenv(t)
	n := newNpmDir(t)
	srv := StartServer(t)
	alice := NewMaintainer(t, srv, "alice")
	publishDemo(t, alice, "1.0.0")
	bob := NewUser(t, srv)
	bob.MustRun("trust", srv.URL, "--yes")
	px := StartProxy(t, bob)

	for _, name := range []string{proxyModule + "-1.0.0-py3-none-any.whl", proxyModule + "-1.0.0.tar.gz", proxyProject + "-1.0.0.tgz"} {
		tamperTarget(t, srv, layout.FilePath(proxyProject, "1.0.0", name))
	}
	const says = "hallmark verification failed"
	defer func() { t.Logf("proxy log:\n%s", px.Log()) }()
	code, out := v.pip(px.URL+"/pypi/simple/", proxyProject)
	t.Logf("pip:\n%s", out)
	if code == 0 || !strings.Contains(out, says) || !strings.Contains(out, "tampered") {
		t.Errorf("pip install of a tampered wheel: exit %d; want a failure saying %q:\n%s", code, says, out)
	}
	if got := v.imported(proxyModule); got != "" {
		t.Errorf("pip installed %s %s from a tampered file", proxyModule, got)
	}
	code, out = n.install(px.URL+"/npm/", proxyProject)
	t.Logf("npm:\n%s", out)
	if code == 0 || !strings.Contains(out, says) || !strings.Contains(out, "tampered") {
		t.Errorf("npm install of a tampered tarball: exit %d; want a failure saying %q:\n%s", code, says, out)
	}
	if _, err := os.Stat(filepath.Join(n.dir, "node_modules", proxyProject)); !os.IsNotExist(err) {
		t.Errorf("npm left node_modules/%s behind (%v)", proxyProject, err)
	}
	if !strings.Contains(px.Log(), "tampered") {
		t.Errorf("the proxy did not log the refusal:\n%s", px.Log())
	}
}

// tamperTarget overwrites the stored blob of a published target with other
// bytes of the same length.
func tamperTarget(t testing.TB, srv *Server, target string) {
	t.Helper()
	matches, err := filepath.Glob(srv.BlobPath("targets/" + filepath.Dir(target) + "/*." + filepath.Base(target)))
	if err != nil || len(matches) != 1 {
		t.Fatalf("blob of %s: %v %v", target, matches, err)
	}
	data, err := os.ReadFile(matches[0])
	if err != nil {
		t.Fatal(err)
	}
	for i := range data {
		data[i] ^= 0xff
	}
	if err := os.WriteFile(matches[0], data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// The online keys take over a claimed project through the new-projects bin
// (as in TestAttackAdminOnlineKeyTakesOverClaimed): pip through the proxy,
// warm or fresh, installs the genuine release or fails with the proxy's
// verification message, never mallory's; the unclaimed control project in
// the same shard is taken over, so the forgery is real.
func TestAttackProxyOnlineKeyTakesOverClaimed(t *testing.T) {
	v := newVenv(t)
	rp := admSetup(t)
	srv := rp.srv
	alice := NewMaintainer(t, srv, "alice")
	victim := "victim"
	shard := layout.ShardOf(victim, admShards)
	newbie := admNameInShard(t, "newbie", shard) // unclaimed, same shard: the control
	files, evil := map[string]string{}, map[string][]byte{}
	for _, p := range []string{victim, newbie} {
		genuine := buildSdistOf(t, t.TempDir(), p, "1.0.0", []byte("VERSION = 'genuine'\n"))
		data, err := os.ReadFile(buildSdistOf(t, t.TempDir(), p, "1.0.0", []byte("VERSION = 'backdoor'\n")))
		if err != nil {
			t.Fatal(err)
		}
		files[p], evil[p] = filepath.Base(genuine), data
		alice.MustRun("project", "create", p, "--key", "alice")
		alice.MustRun("release", "upload", p, "1.0.0", genuine)
	}
	rp.admin.MustRun("admin", "claim", victim, "--keys", rp.keys, "--yes")
	mallory, err := signing.Generate("mallory")
	if err != nil {
		t.Fatal(err)
	}
	a := newAttacker(t, srv)
	module := func(p string) string { return strings.ReplaceAll(p, "-", "_") }
	// pip logs why an index page failed only at debug level (-vv; otherwise
	// it says only that no version matches), so installs here are verbose.
	install := func(t *testing.T, px *Proxy, p string) (string, string) {
		v.uninstall(p)
		code, out := v.pip(px.URL+"/pypi/simple/", "-vv", p+"==1.0.0")
		got := v.imported(module(p))
		if code != 0 && got != "" {
			t.Fatalf("pip failed but %s %s is installed:\n%s", p, got, out)
		}
		return got, out
	}

	for _, tc := range []struct {
		name       string
		listVictim bool
	}{
		{"mallory's roles replace the victim's", true},
		{"the victim's genuine roles stay listed", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			restore := saveTree(t, srv.Blobs)
			defer restore()
			warm := StartProxy(t, admPin(t, srv, rp.fp))
			if got, out := install(t, warm, victim); got != "genuine" {
				t.Fatalf("before the attack: installed %q:\n%s", got, out)
			}

			admForgeTakeover(t, a, srv, shard, mallory, files, evil, func(p string) bool { return p == newbie || tc.listVictim })

			fresh := StartProxy(t, admPin(t, srv, rp.fp))
			if got, out := install(t, fresh, newbie); got != "backdoor" {
				t.Fatalf("control: the unclaimed project was not taken over (installed %q); the test would prove nothing:\n%s", got, out)
			}
			for who, px := range map[string]*Proxy{"warm": warm, "fresh": fresh} {
				got, out := install(t, px, victim)
				t.Logf("%s proxy: %s installed %q", who, victim, got)
				switch {
				case got == "genuine":
				case got != "":
					t.Fatalf("%s proxy: pip installed mallory's %s (%q):\n%s", who, victim, got, out)
				case !tc.listVictim:
					t.Fatalf("%s proxy: pip failed although the genuine roles are served:\n%s\nproxy:\n%s", who, out, px.Log())
				case !strings.Contains(out, "hallmark verification failed"):
					t.Fatalf("%s proxy: pip failed without the proxy's verification message:\n%s\nproxy:\n%s", who, out, px.Log())
				}
			}
		})
	}
}
