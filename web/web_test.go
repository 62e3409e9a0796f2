package web_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/theupdateframework/go-tuf/v2/metadata"

	"hallmark.dev/hallmark/api"
	"hallmark.dev/hallmark/layout"
	"hallmark.dev/hallmark/signing"
	"hallmark.dev/hallmark/store"
	"hallmark.dev/hallmark/tufmeta"
	"hallmark.dev/hallmark/web"
)

var (
	alice = key(10, "Alice <alice@example.org>")
	bob   = key(11, "Bob <bob@example.org>")
)

func demo() projectSpec {
	return projectSpec{display: "Foo_Bar", owner: alice, maintainers: []*signing.Key{bob}, releases: []releaseSpec{
		{version: "1.0.0", files: map[string]string{"foo_bar-1.0.0.tar.gz": "one", "foo_bar-1.0.0-py3-none-any.whl": "wheel"}},
		{version: "1.1.0", files: map[string]string{"foo_bar-1.1.0.tar.gz": "one.one"}, yanked: true, reason: "broken build"},
		{version: "2.0.0-rc.1", files: map[string]string{"foo_bar-2.0.0rc1.tar.gz": "two"}},
	}}
}

func TestPages(t *testing.T) {
	f := newFixture(t, 16)
	f.add(t, demo(), projectSpec{display: "other", owner: bob})
	shard := layout.ShardOf("foo-bar", 16)
	tests := []struct {
		desc, url string
		status    int
		body      []string
	}{
		{"start page", "/", 200, []string{"Find a project", "Recently published", "foo-bar 1.1.0", "Repository health", "hallmark trust http://example.com"}},
		{"search, normalized", "/?q=Foo_Bar", 200, []string{`href="/p/foo-bar"`, "exact match"}},
		{"search by prefix", "/?q=FOO", 200, []string{`href="/p/foo-bar"`}},
		{"search by substring", "/?q=bar", 200, []string{`href="/p/foo-bar"`}},
		{"search finds nothing", "/?q=zzz", 200, []string{"No project name contains"}},
		{"project", "/p/foo-bar", 200, []string{"Foo_Bar", `id="latest"><strong>1.0.0</strong>`, "hallmark get foo-bar", "broken build",
			"pre-release", "Alice &lt;alice@example.org&gt;", "Bob &lt;bob@example.org&gt;", "1 of 2 must sign each release",
			"1 of 1 must sign changes", "not yet claimed", `href="/m/` + shard + `/foo-bar.releases"`}},
		{"project, other spelling redirects", "/p/Foo.Bar", 301, nil},
		{"missing project", "/p/nope", 404, []string{"There is no project nope."}},
		{"invalid project name", "/p/-x-", 404, []string{"not valid"}},
		{"release", "/p/foo-bar/1.1.0", 200, []string{"This release is yanked", "broken build", "hallmark get foo-bar@1.1.0", "foo_bar-1.1.0.tar.gz"}},
		{"missing release", "/p/foo-bar/9.9.9", 404, []string{"has no version 9.9.9"}},
		{"bad version", "/p/foo-bar/latest", 404, nil},
		{"file", "/p/foo-bar/1.0.0/foo_bar-1.0.0.tar.gz", 200, []string{"sha256sum foo_bar-1.0.0.tar.gz",
			"hallmark get foo-bar@1.0.0 --file foo_bar-1.0.0.tar.gz", `href="/targets/foo-bar/1.0.0/`}},
		{"missing file", "/p/foo-bar/1.0.0/nope.tar.gz", 404, nil},
		{"history", "/p/foo-bar/history", 200, []string{"add release 2.0.0-rc.1", "create project Foo_Bar"}},
		{"metadata shards", "/m/", 200, []string{`href="/m/` + shard + `"`}},
		{"metadata shard", "/m/" + shard, 200, []string{"new." + shard, "claimed." + shard, "delegates 1 project(s)"}},
		{"metadata role", "/m/" + shard + "/foo-bar.releases", 200, []string{`id="role-status">verified<`, "foo-bar/index.json",
			`<a href="/m/` + shard + `/new.` + shard + `">new.` + shard + `</a> ›`}},
		{"metadata bin", "/m/" + shard + "/new." + shard, 200, []string{`id="role-status">verified<`, `href="/m/` + shard + `/foo-bar"`}},
		{"metadata root", "/m/" + shard + "/root", 200, []string{`id="role-status">verified<`, "x-hallmark-shard"}},
		{"metadata role of another shard", "/m/" + shard + "/new.ff", 404, nil},
		{"missing role", "/m/" + shard + "/nope", 404, nil},
		{"no such shard", "/m/zz/root", 404, nil},
		{"stylesheet", "/static/style.css", 200, []string{"prefers-color-scheme"}},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			rec := f.get(tt.url)
			if rec.Code != tt.status {
				t.Fatalf("GET %s = %d, want %d\n%s", tt.url, rec.Code, tt.status, rec.Body)
			}
			for _, want := range tt.body {
				if !strings.Contains(rec.Body.String(), want) {
					t.Errorf("GET %s: body does not contain %q", tt.url, want)
				}
			}
		})
	}
}

// Every page is also its view-model as JSON, marked unverified.
func TestJSONBesideEveryPage(t *testing.T) {
	f := newFixture(t, 1)
	f.add(t, demo())
	for _, u := range []string{"/", "/?q=foo", "/p/foo-bar", "/p/foo-bar/1.0.0", "/p/foo-bar/1.0.0/foo_bar-1.0.0.tar.gz", "/p/foo-bar/history", "/m/0", "/m/0/foo-bar"} {
		rec := f.get(u + map[bool]string{true: "&", false: "?"}[strings.Contains(u, "?")] + "format=json")
		if rec.Code != 200 || !strings.HasPrefix(rec.Header().Get("Content-Type"), "application/json") {
			t.Fatalf("%s?format=json = %d %s", u, rec.Code, rec.Header().Get("Content-Type"))
		}
		var v struct{ Note string }
		if err := json.Unmarshal(rec.Body.Bytes(), &v); err != nil || v.Note != api.UnverifiedNote {
			t.Errorf("%s?format=json: note %q, err %v", u, v.Note, err)
		}
	}
	var p struct {
		Latest            string
		ReleasesThreshold int `json:"releases_threshold"`
		Maintainers       []struct{ Label string }
		Releases          []struct {
			Version string
			Yanked  bool
		}
	}
	json.Unmarshal(f.get("/p/foo-bar?format=json").Body.Bytes(), &p)
	if p.Latest != "1.0.0" || p.ReleasesThreshold != 1 || len(p.Maintainers) != 2 || len(p.Releases) != 3 || !p.Releases[1].Yanked {
		t.Errorf("project JSON = %+v", p)
	}
	if rec := f.get("/p/nope?format=json"); rec.Code != 404 || !strings.Contains(rec.Body.String(), `"error"`) {
		t.Errorf("missing project as JSON = %d %s", rec.Code, rec.Body)
	}
}

func TestSafetyHeaders(t *testing.T) {
	f := newFixture(t, 1)
	for _, u := range []string{"/", "/p/nope", "/m/0/root", "/static/style.css"} {
		h := f.get(u).Header()
		if csp := h.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") || strings.Contains(csp, "script-src") {
			t.Errorf("%s: Content-Security-Policy %q", u, csp)
		}
		if h.Get("X-Content-Type-Options") != "nosniff" || h.Get("X-Frame-Options") != "DENY" {
			t.Errorf("%s: headers %v", u, h)
		}
	}
}

// Attack: labels, yank reasons and display text are chosen by anyone who
// creates a project. They must reach pages and JSON escaped.
func TestHostileTextIsEscaped(t *testing.T) {
	const evil = `<script>alert(1)</script>`
	f := newFixture(t, 1)
	mallory := key(66, evil)
	f.add(t, projectSpec{display: "evil", owner: mallory, releases: []releaseSpec{
		// File names are restricted by layout; the worst they may hold is
		// '+' and '-', which need no escaping, but must still link right.
		{version: "1.0.0+build.5", files: map[string]string{"x+y-1.0.tar.gz": "x"}, yanked: true, reason: `"><img src=x onerror=alert(1)>` + evil},
	}})
	for _, u := range []string{"/p/evil", "/p/evil/history", "/p/evil/1.0.0+build.5", "/p/evil/1.0.0+build.5/x+y-1.0.tar.gz", "/m/0/evil", "/m/0/evil.releases", "/?q=evil"} {
		body := f.get(u).Body.String()
		if strings.Contains(body, "<script") || strings.Contains(body, "<img") {
			t.Errorf("%s holds raw hostile markup", u)
		}
		if u == "/p/evil" && (!strings.Contains(body, "&lt;script&gt;alert(1)&lt;/script&gt;") || !strings.Contains(body, "&lt;img src=x onerror=alert(1)&gt;")) {
			t.Errorf("%s does not show the hostile text escaped", u)
		}
		js := f.get(u + map[bool]string{true: "&", false: "?"}[strings.Contains(u, "?")] + "format=json").Body.String()
		if strings.Contains(js, "<script") {
			t.Errorf("%s?format=json holds a raw <script>", u)
		}
	}
	if body := f.get("/p/evil").Body.String(); !strings.Contains(body, `href="/p/evil/1.0.0&#43;build.5/x&#43;y-1.0.tar.gz"`) {
		t.Errorf("file link with '+' is wrong")
	}
	if rec := f.get("/p/evil/1.0.0+build.5/x+y-1.0.tar.gz"); rec.Code != 200 {
		t.Errorf("file page with '+' = %d", rec.Code)
	}
}

// The project page shows what waits for signatures and who signed.
func TestPendingChangeShowsSigners(t *testing.T) {
	f := newFixture(t, 1)
	spec := demo()
	spec.threshold = 2
	spec.maintainers = []*signing.Key{bob}
	f.add(t, spec)
	ctx := context.Background()
	rf, err := f.st.Role(ctx, "0", "foo-bar.releases")
	if err != nil {
		t.Fatal(err)
	}
	md, _ := tufmeta.Decode[metadata.TargetsType](rf.Data)
	md.Signatures = nil
	md.Signed.Version++
	md.Signed.Expires = md.Signed.Expires.Add(time.Hour)
	tufmeta.Sign(md, alice)
	raw, _ := tufmeta.Encode(md)
	change, _ := json.Marshal(api.ChangeRequest{Project: "foo-bar", ReleasesRole: raw})
	if err := f.st.PutPending(ctx, store.PendingChange{ID: "abc123", Project: "foo-bar", Created: f.now, Expires: f.now.Add(time.Hour), Change: change}); err != nil {
		t.Fatal(err)
	}
	body := f.get("/p/foo-bar").Body.String()
	for _, want := range []string{"Change abc123", "1 of 2 signatures", "Alice &lt;alice@example.org&gt;", "renew the releases role", "hallmark approve foo-bar abc123"} {
		if !strings.Contains(body, want) {
			t.Errorf("project page does not show %q", want)
		}
	}
}

// A project the store reports as blocked gets a banner with the reason.
func TestBlockedProjectBanner(t *testing.T) {
	f := newFixture(t, 1)
	f.add(t, demo())
	pr, _ := f.st.Project(context.Background(), "foo-bar")
	pr.Blocked, pr.BlockReason = true, "malware, reported by <security@example.org>"
	if err := f.st.Commit(context.Background(), store.Publication{Projects: []store.Project{pr}}); err != nil {
		t.Fatal(err)
	}
	body := f.get("/p/foo-bar").Body.String()
	if !strings.Contains(body, `id="blocked"`) || !strings.Contains(body, "malware, reported by &lt;security@example.org&gt;") {
		t.Errorf("no blocked banner with the reason")
	}
	if !strings.Contains(f.get("/?q=foo").Body.String(), ">blocked<") {
		t.Errorf("search results do not mark the project blocked")
	}
	// No download pitch, no download links, no false owner-change notice.
	for _, unwanted := range []string{"Get it, verified with TUF", `id="get-command"`, `download="`, "waits for the admins", "no label"} {
		if strings.Contains(body, unwanted) {
			t.Errorf("the blocked project's page shows %q", unwanted)
		}
	}
	if !strings.Contains(body, `id="not-served"`) {
		t.Errorf("the blocked project's page does not say its files are not served")
	}
}

func TestHealthShowsRenewal(t *testing.T) {
	f := newFixture(t, 16)
	failing := f.handler(web.Config{Renewal: func() web.Renewal {
		return web.Renewal{Renewals: 3, LastRenewal: f.now.Add(-3 * time.Hour), LastError: "disk full", LastErrorTime: f.now.Add(-time.Hour)}
	}})
	rec := httptestGet(failing, "/")
	for _, want := range []string{"failing since 1 hour ago", "disk full", "16 shard(s)", `id="health-status">healthy<`} {
		if !strings.Contains(rec, want) {
			t.Errorf("start page does not show %q", want)
		}
	}
	// A day later without renewal, every timestamp has expired.
	f.now = f.now.Add(25 * time.Hour)
	if body := f.get("/").Body.String(); !strings.Contains(body, `id="health-status">needs attention<`) || !strings.Contains(body, "expired") {
		t.Errorf("expired timestamps not shown as needing attention")
	}
}
