package e2e

// Project governance end to end (issue "Project governance"): maintainers
// and owners, thresholds and co-signing, yank and unyank, file removal,
// renewal, `project show`, and the life of pending changes — every step
// through the real `hallmark` binary against a real `hallmark serve`
// process, checked by other users who learn the state through TUF.

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/theupdateframework/go-tuf/v2/metadata"
	_ "modernc.org/sqlite" // the attacker's (and the test's) view of the server's database

	"hallmark.dev/hallmark/api"
	"hallmark.dev/hallmark/client"
	"hallmark.dev/hallmark/layout"
	"hallmark.dev/hallmark/maintainer"
	"hallmark.dev/hallmark/signing"
	"hallmark.dev/hallmark/tufmeta"
)

// ---------------------------------------------------------------------------
// Helpers shared by governance_test.go and governance_attacks_test.go.

// govPassphrase is the passphrase of every harness user's keys.
const govPassphrase = "correct horse"

// govPublic returns a user's public key in the one-line form
// `hallmark key export` prints (what the user would send to an owner).
func govPublic(t testing.TB, u *User, name string) (string, signing.PublicKey) {
	t.Helper()
	line := strings.TrimSpace(govRun(t, u, "key", "export", name).Stdout)
	pk, err := signing.ParsePublicKey(line)
	if err != nil {
		t.Fatalf("key export %s printed %q: %v", name, line, err)
	}
	return line, pk
}

// govKey opens a harness user's private key, for the few steps a test does
// with the libraries instead of the CLI.
func govKey(t testing.TB, u *User, name string) *signing.Key {
	t.Helper()
	k, err := signing.Keyring{Dir: filepath.Join(u.Home, "keys")}.Load(name, []byte(govPassphrase))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

var govApproveHint = regexp.MustCompile(`hallmark approve (\S+) ([0-9a-f]+)`)

// govPendingID returns the id of the pending change a signing command
// reported, checking that it said the change waits for signatures.
func govPendingID(t testing.TB, r Result, project string) string {
	t.Helper()
	if !strings.Contains(r.Stderr, "the change waits for more signatures") {
		t.Fatalf("the change was not reported as pending:\n%s", r.Stderr)
	}
	m := govApproveHint.FindStringSubmatch(r.Stderr)
	if m == nil || m[1] != project {
		t.Fatalf("no 'hallmark approve %s ID' hint:\n%s", project, r.Stderr)
	}
	return m[2]
}

// govMustPublish checks that a signing command said it published.
func govMustPublish(t testing.TB, r Result) {
	t.Helper()
	if !strings.HasSuffix(r.Stderr, "published\n") || strings.Contains(r.Stderr, "waits for more signatures") {
		t.Fatalf("the change was not published:\n%s", r.Stderr)
	}
}

// govRun runs the CLI as u and fails t (which may be a subtest's, unlike
// u.MustRun) unless it exits 0.
func govRun(t testing.TB, u *User, args ...string) Result {
	t.Helper()
	r := u.Run(args...)
	if r.Code != 0 {
		t.Fatalf("hallmark %s: exit %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), r.Code, r.Stdout, r.Stderr)
	}
	return r
}

// govFail runs the CLI as u and fails t unless it exits non-zero with want
// in its stderr.
func govFail(t testing.TB, u *User, want string, args ...string) Result {
	t.Helper()
	r := u.Run(args...)
	if r.Code == 0 {
		t.Fatalf("hallmark %s succeeded; want failure\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), r.Stdout, r.Stderr)
	}
	if !strings.Contains(r.Stderr, want) {
		t.Fatalf("hallmark %s: stderr does not contain %q:\n%s", strings.Join(args, " "), want, r.Stderr)
	}
	return r
}

// govMustSay fails unless text contains every one of want.
func govMustSay(t testing.TB, what, text string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(text, w) {
			t.Fatalf("%s does not say %q:\n%s", what, w, text)
		}
	}
}

// govKeyView, govRelease and govView decode `hallmark project show --json`,
// independently of the CLI's own types.
type govKeyView struct {
	KeyID string `json:"keyid"`
	Label string `json:"label"`
}

type govRelease struct {
	Version      string             `json:"version"`
	Files        []layout.FileEntry `json:"files"`
	Yanked       bool               `json:"yanked"`
	YankedReason string             `json:"yanked_reason"`
	Prerelease   bool               `json:"prerelease"`
	Latest       bool               `json:"latest"` // versions --json only
}

type govPendingView struct {
	ID       string    `json:"id"`
	Changes  []string  `json:"changes"`
	SignedBy []string  `json:"signed_by"`
	Expires  time.Time `json:"expires"`
}

type govView struct {
	Project           string           `json:"project"`
	Shard             string           `json:"shard"`
	Claimed           bool             `json:"claimed"`
	Latest            string           `json:"latest"`
	Releases          []govRelease     `json:"releases"`
	Owners            []govKeyView     `json:"owners"`
	OwnersThreshold   int              `json:"owners_threshold"`
	Maintainers       []govKeyView     `json:"maintainers"`
	ReleasesThreshold int              `json:"releases_threshold"`
	OwnersExpires     time.Time        `json:"owners_role_expires"`
	ReleasesExpires   time.Time        `json:"releases_role_expires"`
	Pending           []govPendingView `json:"pending"`
}

func govShow(t testing.TB, u *User, project string) govView {
	t.Helper()
	var v govView
	out := govRun(t, u, "project", "show", project, "--json").Stdout
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		t.Fatalf("project show --json: %v\n%s", err, out)
	}
	return v
}

// govKeyIDs lists the key ids of a key list, sorted.
func govKeyIDs(ks []govKeyView) []string {
	var ids []string
	for _, k := range ks {
		ids = append(ids, k.KeyID)
	}
	slices.Sort(ids)
	return ids
}

func govIDs(keys ...signing.PublicKey) []string {
	var ids []string
	for _, k := range keys {
		ids = append(ids, k.ID())
	}
	slices.Sort(ids)
	return ids
}

// govVersions decodes `hallmark versions --json`.
type govVersionList struct {
	Project  string       `json:"project"`
	Claimed  bool         `json:"claimed"`
	Versions []govRelease `json:"versions"`
}

func govVersions(t testing.TB, u *User, project string) govVersionList {
	t.Helper()
	var v govVersionList
	out := govRun(t, u, "versions", project, "--json").Stdout
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		t.Fatalf("versions --json: %v\n%s", err, out)
	}
	return v
}

// govMustGet downloads project[@version] as u into a new directory and
// checks that exactly the given files, with exactly these bytes, arrived.
func govMustGet(t testing.TB, u *User, spec string, want map[string][]byte, extra ...string) Result {
	t.Helper()
	out := t.TempDir()
	r := govRun(t, u, append([]string{"get", spec, "-o", out}, extra...)...)
	entries, err := os.ReadDir(out)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if len(names) != len(want) {
		t.Fatalf("get %s saved %v; want %d file(s)", spec, names, len(want))
	}
	for name, data := range want {
		got, err := os.ReadFile(filepath.Join(out, name))
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("get %s: %s = %q (%v); want %q", spec, name, got, err, data)
		}
	}
	return r
}

// govTool returns the maintainer library as u would run it: its own pinned
// trust and cache, learning state through TUF.
func govTool(t testing.TB, u *User) *maintainer.Tool {
	t.Helper()
	hc := &http.Client{Timeout: 30 * time.Second}
	cl, err := client.Open(client.Options{Repo: u.Repo, Home: u.Home, HTTP: hc})
	if err != nil {
		t.Fatal(err)
	}
	return &maintainer.Tool{Client: cl, HTTP: hc}
}

// govVerified returns a project's state as u verifies it through TUF.
func govVerified(t testing.TB, u *User, project string) *client.Project {
	t.Helper()
	p, err := govTool(t, u).Client.Project(context.Background(), project)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// govServerPending lists the pending changes the server offers for a
// project (unverified: the raw API answer).
func govServerPending(t testing.TB, srv *Server, project string) []api.PendingChange {
	t.Helper()
	var list api.PendingList
	if err := json.Unmarshal(staticGet(t, srv.URL+"/api/v1/projects/"+project+"/pending"), &list); err != nil {
		t.Fatal(err)
	}
	return list.Pending
}

// govPendingRow is one row of the server's `pending` table, as stored.
type govPendingRow struct {
	ID, Project, Created, Expires string
	Change                        []byte
	Files, Summary                string
}

// govDB opens the server's SQLite state directly, as an attacker who owns
// the machine would (the server keeps running: the database is in WAL mode).
func govDB(t testing.TB, srv *Server) *sql.DB {
	t.Helper()
	needSQLite(t)
	db, err := sql.Open("sqlite", "file:"+filepath.Join(srv.Data, "state.db")+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func govPendingRowOf(t testing.TB, db *sql.DB, id string) (govPendingRow, bool) {
	t.Helper()
	var r govPendingRow
	err := db.QueryRow(`SELECT id, project, created, expires, change, files, summary FROM pending WHERE id = ?`, id).
		Scan(&r.ID, &r.Project, &r.Created, &r.Expires, &r.Change, &r.Files, &r.Summary)
	if errors.Is(err, sql.ErrNoRows) {
		return r, false
	}
	if err != nil {
		t.Fatal(err)
	}
	return r, true
}

func govSetChange(t testing.TB, db *sql.DB, id string, change []byte) {
	t.Helper()
	res, err := db.Exec(`UPDATE pending SET change = ? WHERE id = ?`, change, id)
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		t.Fatalf("pending change %s is not in the database", id)
	}
}

// govTree returns the sha256 of every file below dir, by relative path
// (nil if dir does not exist).
func govTree(t testing.TB, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if errors.Is(err, os.ErrNotExist) {
			return filepath.SkipDir
		}
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		out[filepath.ToSlash(rel)] = hexDigest(b)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// govPublished is everything a downloader could be served: every metadata
// file and target of the repository.
func govPublished(t testing.TB, srv *Server) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, d := range []string{"metadata", "targets"} {
		for p, h := range govTree(t, srv.BlobPath(d)) {
			out[d+"/"+p] = h
		}
	}
	return out
}

func govSamePublished(t testing.TB, before, after map[string]string) {
	t.Helper()
	var diffs []string
	for p, h := range before {
		if after[p] != h {
			diffs = append(diffs, "changed or removed: "+p)
		}
	}
	for p := range after {
		if _, ok := before[p]; !ok {
			diffs = append(diffs, "added: "+p)
		}
	}
	if len(diffs) > 0 {
		slices.Sort(diffs)
		t.Fatalf("the published repository changed:\n  %s", strings.Join(diffs, "\n  "))
	}
}

// govBlobURL is the URL a release file is served at.
func govBlobURL(srv *Server, project, version, file string, content []byte) string {
	return targetsURL(srv) + layout.TargetBlobPath(layout.FilePath(project, version, file), hexDigest(content))
}

func govStatus(t testing.TB, u string) int {
	t.Helper()
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Get(u)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// govTwoMaintainers sets up project with owner and maintainer alice, a
// published release 1.0.0 (file f1), and bob as a second maintainer with
// releases threshold 2. It returns bob's public key.
func govTwoMaintainers(t testing.TB, alice, bob *User, project string, f1 string) signing.PublicKey {
	t.Helper()
	alice.MustRun("project", "create", project, "--key", "alice")
	alice.MustRun("release", "upload", project, "1.0.0", f1)
	line, bobKey := govPublic(t, bob, "bob")
	r := alice.MustRun("maintainer", "add", project, line, "--yes")
	govMustSay(t, "maintainer add", r.Stderr, "add maintainer key "+bobKey.ShortID()+" (labelled \"bob <bob@example.org>\" by this change)")
	govMustPublish(t, r)

	// Raising the threshold re-signs the releases under the new rule, so
	// the second maintainer must co-sign it: it waits for bob.
	r = alice.MustRun("project", "threshold", project, "--releases", "2", "--yes")
	govMustSay(t, "project threshold", r.Stderr, "releases threshold 1 → 2", "(1 of 2 on the role that needs most)")
	id := govPendingID(t, r, project)
	if v := govShow(t, alice, project); v.ReleasesThreshold != 1 || len(v.Pending) != 1 || v.Pending[0].ID != id {
		t.Fatalf("before bob approves: releases threshold %d, pending %+v", v.ReleasesThreshold, v.Pending)
	}
	r = bob.MustRun("approve", project, id, "--yes", "--key", "bob")
	govMustSay(t, "approve", r.Stderr, "releases threshold 1 → 2")
	govMustPublish(t, r)
	if v := govShow(t, alice, project); v.ReleasesThreshold != 2 || len(v.Maintainers) != 2 || len(v.Pending) != 0 {
		t.Fatalf("after bob approved: %+v", v)
	}
	return bobKey
}

// ---------------------------------------------------------------------------
// 1. Two maintainers, releases threshold 2: an upload waits for the second.

func TestGovernanceCoSignedRelease(t *testing.T) {
	srv := StartServer(t)
	alice := NewMaintainer(t, srv, "alice")
	bob := NewMaintainer(t, srv, "bob")
	carol := NewMaintainer(t, srv, "carol") // a downloader
	dir := t.TempDir()
	v1 := []byte("demo 1.0.0\n")
	govTwoMaintainers(t, alice, bob, "demo", WriteFile(t, dir, "demo-1.0.0.tar.gz", v1))

	v2 := []byte("demo 2.0.0, needs two maintainers\n")
	r := alice.MustRun("release", "upload", "demo", "2.0.0", WriteFile(t, dir, "demo-2.0.0.tar.gz", v2))
	govMustSay(t, "release upload", r.Stderr, "add release 2.0.0: 1 file(s)", "signed; the change waits for more signatures (1 of 2")
	id := govPendingID(t, r, "demo")

	// Nobody sees it until it is approved.
	if got := carol.MustRun("versions", "demo").Stdout; got != "1.0.0\n" {
		t.Fatalf("versions before approval = %q", got)
	}
	govMustGet(t, carol, "demo", map[string][]byte{"demo-1.0.0.tar.gz": v1})
	carol.MustFail("has no version 2.0.0", "get", "demo@2.0.0")
	if govStatus(t, govBlobURL(srv, "demo", "2.0.0", "demo-2.0.0.tar.gz", v2)) != http.StatusNotFound {
		t.Fatal("the pending file is served before approval")
	}

	// The other maintainer is told what it does in plain words.
	r = bob.MustRun("pending")
	_, aliceKey := govPublic(t, alice, "alice")
	// Before signing, the co-signer sees the exact files (name, size, full
	// sha256) and who has signed so far (label and full key id).
	fileLine := "  - file demo-2.0.0.tar.gz of 2.0.0: " + explainSize(len(v2)) + ", sha256 " + hexDigest(v2)
	signerLine := "alice <alice@example.org> (" + aliceKey.ShortID() + "), key id " + aliceKey.ID()
	govMustSay(t, "pending", r.Stdout, "demo "+id, "  - add release 2.0.0: 1 file(s), "+explainSize(len(v2)), fileLine,
		"signed so far by:\n    "+signerLine, "approve with: hallmark approve demo "+id+" --key bob")
	var rows []struct {
		ID       string   `json:"id"`
		Project  string   `json:"project"`
		Changes  []string `json:"changes"`
		SignedBy []string `json:"signed_by"`
		Yours    []string `json:"your_keys_can_sign"`
	}
	if err := json.Unmarshal([]byte(bob.MustRun("pending", "demo", "--json").Stdout), &rows); err != nil {
		t.Fatal(err)
	}
	if len(rows) != 1 || rows[0].ID != id || rows[0].Project != "demo" || !slices.Equal(rows[0].Yours, []string{"bob"}) ||
		!slices.Equal(rows[0].SignedBy, []string{aliceKey.ID()}) || len(rows[0].Changes) != 2 {
		t.Fatalf("pending --json = %+v", rows)
	}
	// The author has signed already: nothing awaits her; a downloader has no
	// key that could sign it.
	govMustSay(t, "alice's pending", alice.MustRun("pending").Stderr, "nothing awaits your signature")
	govMustSay(t, "carol's pending", carol.MustRun("pending", "demo").Stderr, "nothing awaits your signature")
	alice.MustFail("cannot add a signature to this change", "approve", "demo", id, "--yes")
	carol.MustFail("cannot add a signature to this change", "approve", "demo", id, "--yes")

	r = bob.MustRun("approve", "demo", "--yes")
	govMustSay(t, "approve", r.Stderr, "pending change "+id+" (signed by 1 key(s)) will", "add release 2.0.0", fileLine, "signed so far by:\n  "+signerLine)
	govMustPublish(t, r)

	// Now everyone sees it, and gets it as latest.
	if got := carol.MustRun("versions", "demo").Stdout; got != "2.0.0\n1.0.0\n" {
		t.Fatalf("versions after approval = %q", got)
	}
	govMustGet(t, carol, "demo", map[string][]byte{"demo-2.0.0.tar.gz": v2})
	govMustGet(t, NewMaintainer(t, srv, "dave"), "demo@2.0.0", map[string][]byte{"demo-2.0.0.tar.gz": v2})
	if len(govServerPending(t, srv, "demo")) != 0 {
		t.Fatal("the published change is still pending")
	}
	bob.MustFail("has no pending change to approve", "approve", "demo", "--yes")

	// The published releases role carries both signatures, and go-tuf reads it.
	p := govVerified(t, carol, "demo")
	if len(p.ReleasesRole.Signatures) != 2 {
		t.Fatalf("the published releases role carries %d signature(s)", len(p.ReleasesRole.Signatures))
	}
	tr := fetchTrust(t, srv)
	g := newGoTUF(t, srv, p.Shard, fetchInitialRoot(t, srv, tr, p.Shard))
	if got := g.download(g.refresh(), "demo/2.0.0/demo-2.0.0.tar.gz"); !bytes.Equal(got, v2) {
		t.Fatalf("go-tuf downloaded %q", got)
	}
}

// explainSize is how the tools print a small size.
func explainSize(n int) string { return fmt.Sprintf("%d B", n) }

// ---------------------------------------------------------------------------
// 2 and 3. An owner adds a maintainer, who can upload at once; once removed,
// the maintainer's uploads are refused and change nothing.

func TestGovernanceMaintainerAddRemove(t *testing.T) {
	srv := StartServer(t)
	alice := NewMaintainer(t, srv, "alice")
	bob := NewMaintainer(t, srv, "bob")
	carol := NewMaintainer(t, srv, "carol")
	dir := t.TempDir()
	alice.MustRun("project", "create", "tools", "--key", "alice")
	v1 := []byte("tools 1.0.0")
	alice.MustRun("release", "upload", "tools", "1.0.0", WriteFile(t, dir, "tools-1.0.0.tar.gz", v1))
	bobLine, bobKey := govPublic(t, bob, "bob")
	_, aliceKey := govPublic(t, alice, "alice")

	// Not a maintainer yet: refused before anything is sent.
	f11 := WriteFile(t, dir, "tools-1.1.0.tar.gz", []byte("tools 1.1.0 by bob"))
	bob.MustFail("is not a maintainer of tools", "release", "upload", "tools", "1.1.0", f11)
	// Nor can bob add himself: only owners change maintainers.
	bob.MustFail("is not an owner of tools", "maintainer", "add", "tools", bobLine, "--yes")

	// The owner adds bob (the public key may also come from a file).
	keyFile := WriteFile(t, dir, "bob.pub", []byte(bobLine+"\n"))
	r := alice.MustRun("maintainer", "add", "tools", keyFile, "--yes")
	govMustSay(t, "maintainer add", r.Stderr, "tools: this change will", "  - add maintainer key "+bobKey.ShortID()+" (labelled \"bob <bob@example.org>\" by this change)")
	govMustPublish(t, r)
	alice.MustFail("is already a maintainer of tools", "maintainer", "add", "tools", bobLine, "--yes")

	v := govShow(t, carol, "tools")
	if !slices.Equal(govKeyIDs(v.Maintainers), govIDs(aliceKey, bobKey)) || v.ReleasesThreshold != 1 {
		t.Fatalf("maintainers after the addition: %+v threshold %d", v.Maintainers, v.ReleasesThreshold)
	}
	for _, m := range v.Maintainers {
		if m.KeyID == bobKey.ID() && m.Label != "bob <bob@example.org>" {
			t.Fatalf("bob's label = %q", m.Label)
		}
	}

	// bob uploads at once.
	govMustPublish(t, bob.MustRun("release", "upload", "tools", "1.1.0", f11))
	govMustGet(t, carol, "tools", map[string][]byte{"tools-1.1.0.tar.gz": []byte("tools 1.1.0 by bob")})

	// alice removes bob by the short key id `project show` prints.
	r = alice.MustRun("maintainer", "remove", "tools", bobKey.ShortID(), "--yes")
	govMustSay(t, "maintainer remove", r.Stderr, "  - remove maintainer bob <bob@example.org> ("+bobKey.ShortID()+")")
	govMustPublish(t, r)
	alice.MustFail("a project needs at least one maintainer", "maintainer", "remove", "tools", aliceKey.ShortID(), "--yes")
	alice.MustFail("no such key", "maintainer", "remove", "tools", bobKey.ShortID(), "--yes")

	before := govPublished(t, srv)
	versionsBefore := carol.MustRun("versions", "tools", "--json").Stdout
	f12 := WriteFile(t, dir, "tools-1.2.0.tar.gz", []byte("tools 1.2.0 by removed bob"))
	r = bob.MustFail("is not a maintainer of tools", "release", "upload", "tools", "1.2.0", f12)
	govMustSay(t, "refused upload", r.Stderr, "key "+bobKey.ShortID())

	// The server refuses it too, if bob's tool were patched to send it anyway.
	status, e := govPostRelease(t, srv, bob, "tools", "1.2.0", "tools-1.2.0.tar.gz", []byte("tools 1.2.0 by removed bob"), govKey(t, bob, "bob"))
	if status != http.StatusUnprocessableEntity || !strings.Contains(e.Message, "is signed by key "+bobKey.ShortID()+", which is not one of the project's maintainers") {
		t.Fatalf("server answer to a removed maintainer's release: %d %+v", status, e)
	}
	// Nothing changed: no release, no pending change, nothing new served.
	govSamePublished(t, before, govPublished(t, srv))
	if got := carol.MustRun("versions", "tools", "--json").Stdout; got != versionsBefore {
		t.Fatalf("versions changed: %s → %s", versionsBefore, got)
	}
	if p := govServerPending(t, srv, "tools"); len(p) != 0 {
		t.Fatalf("a refused upload left a pending change: %+v", p)
	}
	carol.MustFail("has no version 1.2.0", "get", "tools@1.2.0")
	if entries, _ := os.ReadDir(filepath.Join(srv.Data, "staging")); len(entries) != 0 {
		t.Fatalf("staging holds %d file(s) after a refused upload", len(entries))
	}
}

// govPostRelease signs, with key, a releases role that adds version with one
// file, built from the project's state as u verifies it, and sends it to the
// write API directly (what a patched tool would do). It returns the HTTP
// status and the error body.
func govPostRelease(t testing.TB, srv *Server, u *User, project, version, file string, content []byte, keys ...*signing.Key) (int, api.Error) {
	t.Helper()
	p := govVerified(t, u, project)
	b, err := tufmeta.Encode(p.ReleasesRole)
	if err != nil {
		t.Fatal(err)
	}
	role, err := tufmeta.Decode[metadata.TargetsType](b)
	if err != nil {
		t.Fatal(err)
	}
	role.Signatures = nil
	role.Signed.Version++
	role.Signed.Expires = layout.DefaultPolicy().ExpiresAt(layout.ReleasesRole(project), time.Now())
	path := layout.FilePath(project, version, file)
	role.Signed.Targets[path] = govTargetFile(content)
	ix := layout.Index{Project: p.Index.Project}
	entry := layout.FileEntry{Name: file, SHA256: hexDigest(content), Length: int64(len(content))}
	added := false
	for _, r := range p.Index.Releases {
		r.Files = slices.Clone(r.Files)
		if r.Version == version { // a file added to a published release
			r.Files, added = append(r.Files, entry), true
		}
		ix.Releases = append(ix.Releases, r)
	}
	if !added {
		ix.Releases = append(ix.Releases, layout.Release{Version: version, Files: []layout.FileEntry{entry}})
	}
	index, err := ix.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	role.Signed.Targets[layout.IndexPath(project)] = govTargetFile(index)
	if err := tufmeta.Sign(role, keys...); err != nil {
		t.Fatal(err)
	}
	enc, err := tufmeta.Encode(role)
	if err != nil {
		t.Fatal(err)
	}
	change, _ := json.Marshal(api.ChangeRequest{Project: project, ReleasesRole: enc})
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	w, _ := mw.CreateFormField("change")
	w.Write(change)
	w, _ = mw.CreateFormFile(layout.IndexPath(project), layout.IndexPath(project))
	w.Write(index)
	w, _ = mw.CreateFormFile(path, path)
	w.Write(content)
	mw.Close()
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Post(srv.URL+"/api/v1/projects/"+project+"/changes", mw.FormDataContentType(), &body)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var er api.ErrorResponse
	json.NewDecoder(resp.Body).Decode(&er)
	return resp.StatusCode, er.Error
}

func govTargetFile(data []byte) *metadata.TargetFiles {
	sum := sha256.Sum256(data)
	return &metadata.TargetFiles{Length: int64(len(data)), Hashes: metadata.Hashes{"sha256": sum[:]}}
}

// ---------------------------------------------------------------------------
// 4. Yank and unyank: latest skips a yanked release; an exact pin still
// installs it, with the reason.

func TestGovernanceYankUnyank(t *testing.T) {
	srv := StartServer(t)
	alice := NewMaintainer(t, srv, "alice")
	carol := NewMaintainer(t, srv, "carol")
	dir := t.TempDir()
	alice.MustRun("project", "create", "yanky", "--key", "alice")
	files := map[string][]byte{}
	for _, v := range []string{"1.0.0", "1.5.0", "2.0.0"} {
		name := "yanky-" + v + ".tar.gz"
		files[v] = []byte("yanky " + v)
		alice.MustRun("release", "upload", "yanky", v, WriteFile(t, dir, name, files[v]))
	}
	govMustGet(t, carol, "yanky", map[string][]byte{"yanky-2.0.0.tar.gz": files["2.0.0"]})

	const reason = "corrupts data on big-endian machines"
	alice.MustFail("a yank needs a reason", "release", "yank", "yanky", "2.0.0", "--yes")
	alice.MustFail("yanky has no version 3.0.0", "release", "yank", "yanky", "3.0.0", "--reason", reason, "--yes")
	r := alice.MustRun("release", "yank", "yanky", "2.0.0", "--reason", reason, "--yes")
	govMustSay(t, "yank", r.Stderr, `  - yank release 2.0.0: "`+reason+`"`)
	govMustPublish(t, r)
	alice.MustFail("yanky 2.0.0 is already yanked", "release", "yank", "yanky", "2.0.0", "--reason", reason, "--yes")
	alice.MustFail("yanky 1.5.0 is not yanked", "release", "unyank", "yanky", "1.5.0", "--yes")

	// Latest is now the highest release that is not yanked.
	r = govMustGet(t, carol, "yanky", map[string][]byte{"yanky-1.5.0.tar.gz": files["1.5.0"]})
	if strings.Contains(r.Stderr, "yanked") {
		t.Fatalf("get of the latest release warns about a yank:\n%s", r.Stderr)
	}
	// The exact pin still installs it, and says why it was yanked.
	r = govMustGet(t, carol, "yanky@2.0.0", map[string][]byte{"yanky-2.0.0.tar.gz": files["2.0.0"]})
	govMustSay(t, "get of the yanked release", r.Stderr, "warning: yanky 2.0.0 is yanked: "+reason)
	if got := carol.MustRun("versions", "yanky").Stdout; got != "2.0.0\t(yanked: "+reason+")\n1.5.0\n1.0.0\n" {
		t.Fatalf("versions = %q", got)
	}
	vs := govVersions(t, carol, "yanky")
	if len(vs.Versions) != 3 || vs.Versions[0].Version != "2.0.0" || !vs.Versions[0].Yanked || vs.Versions[0].YankedReason != reason ||
		vs.Versions[0].Latest || !vs.Versions[1].Latest || vs.Versions[1].Yanked || vs.Versions[1].YankedReason != "" {
		t.Fatalf("versions --json = %+v", vs)
	}
	if v := govShow(t, carol, "yanky"); v.Latest != "1.5.0" {
		t.Fatalf("project show: latest %s", v.Latest)
	}
	govMustSay(t, "project show", carol.MustRun("project", "show", "yanky").Stdout, "2.0.0  (yanked: "+reason+")")

	// Unyank restores it as latest.
	r = alice.MustRun("release", "unyank", "yanky", "2.0.0", "--yes")
	govMustSay(t, "unyank", r.Stderr, "  - unyank release 2.0.0")
	govMustPublish(t, r)
	r = govMustGet(t, carol, "yanky", map[string][]byte{"yanky-2.0.0.tar.gz": files["2.0.0"]})
	if strings.Contains(r.Stderr, "yanked") {
		t.Fatalf("get after unyank still warns:\n%s", r.Stderr)
	}
	vs = govVersions(t, carol, "yanky")
	if !vs.Versions[0].Latest || vs.Versions[0].Yanked || vs.Versions[0].YankedReason != "" {
		t.Fatalf("versions --json after unyank = %+v", vs)
	}
	if got := carol.MustRun("versions", "yanky").Stdout; got != "2.0.0\n1.5.0\n1.0.0\n" {
		t.Fatalf("versions after unyank = %q", got)
	}
}

// ---------------------------------------------------------------------------
// 5. File removal: no longer served nor trusted; the name never returns
// with other content, even as a new release of the same version after the
// release itself was removed; the same content may come back.

func TestGovernanceFileRemove(t *testing.T) {
	srv := StartServer(t)
	alice := NewMaintainer(t, srv, "alice")
	carol := NewMaintainer(t, srv, "carol")
	dir := t.TempDir()
	alice.MustRun("project", "create", "rmme", "--key", "alice")
	tgz, whl := []byte("rmme 1.0.0 source"), []byte("rmme 1.0.0 wheel, with a bad build")
	alice.MustRun("release", "upload", "rmme", "1.0.0", WriteFile(t, dir, "rmme-1.0.0.tar.gz", tgz), WriteFile(t, dir, "rmme-1.0.0.whl", whl))
	whlURL := govBlobURL(srv, "rmme", "1.0.0", "rmme-1.0.0.whl", whl)
	if got := staticGet(t, whlURL); !bytes.Equal(got, whl) {
		t.Fatal("the wheel is not served where expected")
	}
	// carol has verified the project before the removal (cached metadata).
	govMustGet(t, carol, "rmme@1.0.0", map[string][]byte{"rmme-1.0.0.whl": whl}, "--file", "rmme-1.0.0.whl")

	alice.MustFail("rmme 1.0.0 has no file nope.whl", "file", "remove", "rmme", "1.0.0", "nope.whl", "--yes")
	r := alice.MustRun("file", "remove", "rmme", "1.0.0", "rmme-1.0.0.whl", "--yes")
	govMustSay(t, "file remove", r.Stderr, "  - remove file rmme-1.0.0.whl from release 1.0.0: "+explainSize(len(whl))+", sha256 "+hexDigest(whl)+" (its name can never be used again with other content)")
	govMustPublish(t, r)

	// Not served any more…
	if s := govStatus(t, whlURL); s != http.StatusNotFound {
		t.Fatalf("GET of the removed file: HTTP %d", s)
	}
	// …nor trusted: neither carol (cached) nor a new user will fetch it.
	for _, u := range []*User{carol, NewMaintainer(t, srv, "dave")} {
		out := t.TempDir()
		r := u.MustFail("rmme 1.0.0 has no file rmme-1.0.0.whl", "get", "rmme@1.0.0", "--file", "rmme-1.0.0.whl", "-o", out)
		govMustSay(t, "refused get", r.Stderr, "its files: rmme-1.0.0.tar.gz")
		govMustGet(t, u, "rmme@1.0.0", map[string][]byte{"rmme-1.0.0.tar.gz": tgz})
	}
	p := govVerified(t, carol, "rmme")
	if _, ok := p.ReleasesRole.Signed.Targets["rmme/1.0.0/rmme-1.0.0.whl"]; ok {
		t.Fatal("the removed file is still a signed target")
	}
	tr := fetchTrust(t, srv)
	g := newGoTUF(t, srv, p.Shard, fetchInitialRoot(t, srv, tr, p.Shard))
	if _, err := g.refresh().GetTargetInfo("rmme/1.0.0/rmme-1.0.0.whl"); err == nil {
		t.Fatal("go-tuf still finds the removed file")
	}

	// The same name with other content is refused, in the same release…
	whl2 := []byte("rmme 1.0.0 wheel, rebuilt with other bytes")
	other := t.TempDir()
	alice.MustFail("rmme 1.0.0 is already published", "release", "upload", "rmme", "1.0.0", WriteFile(t, other, "rmme-1.0.0.whl", whl2))
	status, e := govPostRelease(t, srv, alice, "rmme", "1.0.0", "rmme-1.0.0.whl", whl2, govKey(t, alice, "alice"))
	if status != http.StatusUnprocessableEntity || !strings.Contains(e.Message, "file rmme/1.0.0/rmme-1.0.0.whl was published before with other content") {
		t.Fatalf("re-adding the removed name with other content: HTTP %d %+v", status, e)
	}
	// …and, once the whole release is removed, as a new release 1.0.0.
	r = alice.MustRun("file", "remove", "rmme", "1.0.0", "rmme-1.0.0.tar.gz", "--yes")
	govMustSay(t, "file remove", r.Stderr, "remove release 1.0.0 and its 1 file(s)")
	govMustPublish(t, r)
	if got := carol.MustRun("versions", "rmme").Stdout; got != "" {
		t.Fatalf("versions after removing the release = %q", got)
	}
	before := govPublished(t, srv)
	r = alice.MustFail("file rmme/1.0.0/rmme-1.0.0.whl was published before with other content", "release", "upload", "rmme", "1.0.0", WriteFile(t, other, "rmme-1.0.0.whl", whl2))
	govMustSay(t, "refused re-use", r.Stderr, "a file name is never re-used")
	// Restarting the server forgets nothing.
	srv.Stop()
	srv.Start()
	alice.MustFail("was published before with other content", "release", "upload", "rmme", "1.0.0", WriteFile(t, other, "rmme-1.0.0.whl", whl2))
	govSamePublished(t, before, govPublished(t, srv))
	if s := govStatus(t, govBlobURL(srv, "rmme", "1.0.0", "rmme-1.0.0.whl", whl2)); s != http.StatusNotFound {
		t.Fatalf("the refused content is served: HTTP %d", s)
	}

	// The same content may come back, and is served and trusted again.
	back := t.TempDir()
	govMustPublish(t, alice.MustRun("release", "upload", "rmme", "1.0.0", WriteFile(t, back, "rmme-1.0.0.whl", whl)))
	govMustGet(t, carol, "rmme", map[string][]byte{"rmme-1.0.0.whl": whl})
	if got := staticGet(t, whlURL); !bytes.Equal(got, whl) {
		t.Fatal("the restored file is not served")
	}
}

// ---------------------------------------------------------------------------
// 6. Owners of an unclaimed project: add and remove owners (at once, when
// thresholds of the old and the new owners sign), the owners threshold,
// renewal, and what `project show` reports.

func TestGovernanceOwnersThresholdRenewShow(t *testing.T) {
	srv := StartServer(t)
	alice := NewMaintainer(t, srv, "alice")
	bob := NewMaintainer(t, srv, "bob")
	carol := NewMaintainer(t, srv, "carol")
	dir := t.TempDir()
	alice.MustRun("project", "create", "owned", "--key", "alice")
	v1 := []byte("owned 1.0.0")
	alice.MustRun("release", "upload", "owned", "1.0.0", WriteFile(t, dir, "owned-1.0.0.tar.gz", v1))
	_, aliceKey := govPublic(t, alice, "alice")
	bobLine, bobKey := govPublic(t, bob, "bob")
	carolLine, carolKey := govPublic(t, carol, "carol")

	// Adding an owner: alice is a threshold (1) of the current owners and of
	// the new ones, so it applies at once.
	bob.MustFail("is not an owner of owned", "maintainer", "add", "owned", carolLine, "--yes")
	r := alice.MustRun("owner", "add", "owned", bobLine, "--yes")
	govMustSay(t, "owner add", r.Stderr, "  - add owner key "+bobKey.ShortID()+" (labelled \"bob <bob@example.org>\" by this change)")
	govMustPublish(t, r)
	alice.MustFail("is already an owner of owned", "owner", "add", "owned", bobLine, "--yes")
	// Nobody makes themselves an owner: an owner change starts with a
	// current owner's signature.
	carol.MustFail("this change needs an owner's signature first; key "+carolKey.ShortID()+" (carol <carol@example.org>) is not an owner of owned", "owner", "add", "owned", carolLine, "--yes")
	if p := govServerPending(t, srv, "owned"); len(p) != 0 {
		t.Fatalf("a refused owner change is pending: %+v", p)
	}
	v := govShow(t, carol, "owned")
	if !slices.Equal(govKeyIDs(v.Owners), govIDs(aliceKey, bobKey)) || v.OwnersThreshold != 1 ||
		!slices.Equal(govKeyIDs(v.Maintainers), govIDs(aliceKey)) || v.Claimed {
		t.Fatalf("after owner add: %+v", v)
	}
	govMustGet(t, carol, "owned", map[string][]byte{"owned-1.0.0.tar.gz": v1})

	// Raising the owners threshold needs 2 of the new owner set: pending.
	alice.MustFail("the owners threshold must be between 1 and the number of owners (2)", "project", "threshold", "owned", "--owners", "3", "--yes")
	r = alice.MustRun("project", "threshold", "owned", "--owners", "2", "--yes")
	govMustSay(t, "owners threshold", r.Stderr, "  - owners threshold 1 → 2 (signatures needed to change owners and maintainers)")
	id := govPendingID(t, r, "owned")

	// project show (text and JSON), as any user, while it is pending.
	show := carol.MustRun("project", "show", "owned").Stdout
	govMustSay(t, "project show", show,
		"owned (shard ", "not claimed yet", "latest: 1.0.0",
		"owners (1 of 2 must sign owner changes):",
		"  "+aliceKey.ShortID()+"  alice <alice@example.org>",
		"  "+bobKey.ShortID()+"  bob <bob@example.org>",
		"maintainers (1 of 1 must sign releases):",
		"pending changes:\n  "+id+" (signed by 1 key(s), expires ",
		"    - owners threshold 1 → 2",
		"metadata expires:\n  owners role   ", "  releases role ")
	v = govShow(t, carol, "owned")
	if v.Project != "owned" || v.Claimed || v.OwnersThreshold != 1 || v.ReleasesThreshold != 1 || v.Latest != "1.0.0" ||
		len(v.Owners) != 2 || len(v.Maintainers) != 1 || v.Maintainers[0].Label != "alice <alice@example.org>" ||
		len(v.Pending) != 1 || v.Pending[0].ID != id || !slices.Equal(v.Pending[0].SignedBy, []string{aliceKey.ID()}) ||
		len(v.Pending[0].Changes) != 1 || !strings.HasPrefix(v.Pending[0].Changes[0], "owners threshold 1 → 2") ||
		!v.Pending[0].Expires.After(time.Now()) || v.OwnersExpires.Before(time.Now().AddDate(0, 11, 0)) || v.ReleasesExpires.Before(time.Now().AddDate(0, 11, 0)) {
		t.Fatalf("project show --json while pending: %+v", v)
	}
	if v.Shard != layout.ShardOf("owned", fetchTrust(t, srv).Shards) {
		t.Fatalf("shard %s", v.Shard)
	}
	r = bob.MustRun("approve", "owned", id, "--yes")
	govMustPublish(t, r)
	if v := govShow(t, carol, "owned"); v.OwnersThreshold != 2 || len(v.Pending) != 0 {
		t.Fatalf("after the threshold change: %+v", v)
	}

	// Renewal re-signs both roles: both versions grow and the expiries move
	// (expiries have whole seconds: wait for the next one, bounded).
	before := govVerified(t, carol, "owned")
	for deadline := time.Now().Add(5 * time.Second); !layout.DefaultPolicy().ExpiresAt("owned", time.Now()).After(before.OwnersRole.Signed.Expires); {
		if time.Now().After(deadline) {
			t.Fatal("the clock does not move")
		}
		time.Sleep(50 * time.Millisecond)
	}
	r = alice.MustRun("project", "renew", "owned", "--yes")
	govMustSay(t, "renew", r.Stderr, "  - renew the owners role: valid until ", "  - renew the releases role: valid until ")
	id = govPendingID(t, r, "owned") // owners threshold 2: bob must co-sign
	govMustSay(t, "bob's pending", bob.MustRun("pending", "owned").Stdout, "renew the owners role")
	govMustPublish(t, bob.MustRun("approve", "owned", id, "--yes"))
	after := govVerified(t, carol, "owned")
	if after.OwnersRole.Signed.Version != before.OwnersRole.Signed.Version+1 || after.ReleasesRole.Signed.Version != before.ReleasesRole.Signed.Version+1 {
		t.Fatalf("renew: owners role v%d → v%d, releases role v%d → v%d", before.OwnersRole.Signed.Version, after.OwnersRole.Signed.Version,
			before.ReleasesRole.Signed.Version, after.ReleasesRole.Signed.Version)
	}
	if !after.OwnersRole.Signed.Expires.After(before.OwnersRole.Signed.Expires) || !after.ReleasesRole.Signed.Expires.After(before.ReleasesRole.Signed.Expires) {
		t.Fatalf("renew did not move the expiries: %v → %v, %v → %v", before.OwnersRole.Signed.Expires, after.OwnersRole.Signed.Expires,
			before.ReleasesRole.Signed.Expires, after.ReleasesRole.Signed.Expires)
	}
	if !bytes.Equal(after.IndexBytes, before.IndexBytes) {
		t.Fatal("renew changed the releases")
	}
	v = govShow(t, carol, "owned")
	if !v.OwnersExpires.Equal(after.OwnersRole.Signed.Expires) || !v.ReleasesExpires.Equal(after.ReleasesRole.Signed.Expires) {
		t.Fatalf("project show expiries %v %v; verified %v %v", v.OwnersExpires, v.ReleasesExpires, after.OwnersRole.Signed.Expires, after.ReleasesRole.Signed.Expires)
	}
	govMustGet(t, carol, "owned", map[string][]byte{"owned-1.0.0.tar.gz": v1})

	// Removing an owner below the threshold is refused with what to do.
	r = bob.MustFail("the owners threshold is 2 but only 1 owner(s) would remain", "owner", "remove", "owned", aliceKey.ShortID(), "--yes")
	govMustSay(t, "refused owner removal", r.Stderr, "hallmark project threshold owned --owners N")
	// Lower it (needs both owners), then bob removes alice at once.
	id = govPendingID(t, bob.MustRun("project", "threshold", "owned", "--owners", "1", "--yes"), "owned")
	govMustPublish(t, alice.MustRun("approve", "owned", id, "--yes"))
	r = bob.MustRun("owner", "remove", "owned", aliceKey.ShortID(), "--yes")
	govMustSay(t, "owner remove", r.Stderr, "  - remove owner alice <alice@example.org> ("+aliceKey.ShortID()+")")
	govMustPublish(t, r)
	v = govShow(t, carol, "owned")
	if !slices.Equal(govKeyIDs(v.Owners), govIDs(bobKey)) || v.OwnersThreshold != 1 || !slices.Equal(govKeyIDs(v.Maintainers), govIDs(aliceKey)) || v.Claimed {
		t.Fatalf("after owner remove: %+v", v)
	}
	bob.MustFail("a project needs at least one owner", "owner", "remove", "owned", bobKey.ShortID(), "--yes")

	// alice is still a maintainer, not an owner any more.
	v2 := []byte("owned 2.0.0")
	govMustPublish(t, alice.MustRun("release", "upload", "owned", "2.0.0", WriteFile(t, dir, "owned-2.0.0.tar.gz", v2)))
	alice.MustFail("is not an owner of owned", "maintainer", "add", "owned", carolLine, "--yes")
	govMustGet(t, carol, "owned", map[string][]byte{"owned-2.0.0.tar.gz": v2})
}

// ---------------------------------------------------------------------------
// 7. A pending change expires: it is no longer listed, and cannot be
// approved, not even by a tool that fetched it before it expired.

func TestGovernancePendingChangeExpires(t *testing.T) {
	const ttl = 2 * time.Second
	srv := StartServer(t, "--pending-ttl", ttl.String())
	alice := NewMaintainer(t, srv, "alice")
	bob := NewMaintainer(t, srv, "bob")
	dir := t.TempDir()
	alice.MustRun("project", "create", "slow", "--key", "alice")
	v1 := []byte("slow 1.0.0")
	alice.MustRun("release", "upload", "slow", "1.0.0", WriteFile(t, dir, "slow-1.0.0.tar.gz", v1))
	bobLine, _ := govPublic(t, bob, "bob")
	govMustPublish(t, alice.MustRun("maintainer", "add", "slow", bobLine, "--yes"))

	start := time.Now()
	id := govPendingID(t, alice.MustRun("project", "threshold", "slow", "--releases", "2", "--yes"), "slow")
	// bob's tool fetches and verifies it while it is alive.
	tool := govTool(t, bob)
	list, refused, err := tool.ListPending(context.Background(), "slow")
	if err != nil {
		t.Fatal(err)
	}
	var fetched *maintainer.Pending
	for _, p := range list {
		if p.ID == id {
			fetched = p
		}
	}
	if time.Since(start) < ttl/2 && (fetched == nil || len(refused) != 0) {
		t.Fatalf("the live pending change is not offered: %+v, refused %+v", list, refused)
	}
	if fetched != nil && (!fetched.Expires.After(start) || fetched.Expires.After(start.Add(ttl+time.Minute))) {
		t.Fatalf("pending change expires %v, created about %v with a TTL of %v", fetched.Expires, start, ttl)
	}

	// Wait past the TTL (bounded).
	for deadline := time.Now().Add(20 * time.Second); len(govServerPending(t, srv, "slow")) != 0; {
		if time.Now().After(deadline) {
			t.Fatalf("the pending change is still listed %v after it was created with a TTL of %v", time.Since(start), ttl)
		}
		time.Sleep(100 * time.Millisecond)
	}

	govMustSay(t, "pending", bob.MustRun("pending", "slow", "--all").Stderr, "nothing awaits your signature")
	r := bob.MustFail("slow has no pending change "+id, "approve", "slow", id, "--yes")
	govMustSay(t, "approve of an expired change", r.Stderr, "hallmark pending slow --all")
	bob.MustFail("slow has no pending change to approve", "approve", "slow", "--yes")
	if v := govShow(t, bob, "slow"); len(v.Pending) != 0 || v.ReleasesThreshold != 1 {
		t.Fatalf("project show after expiry: %+v", v)
	}
	// A signature sent for it anyway (by a tool that fetched it in time) is
	// refused by the server: nothing is published.
	if fetched != nil {
		before := govPublished(t, srv)
		_, err := tool.Approve(context.Background(), fetched, govKey(t, bob, "bob"))
		var ae *maintainer.APIError
		if !errors.As(err, &ae) || ae.Status != http.StatusNotFound || !strings.Contains(ae.Body.Message, "no pending change "+id+" for project slow (it may have been published, expired or dropped)") {
			t.Fatalf("approving an expired change: %v", err)
		}
		govSamePublished(t, before, govPublished(t, srv))
	}
	if v := govShow(t, bob, "slow"); v.ReleasesThreshold != 1 {
		t.Fatalf("the expired change was applied: releases threshold %d", v.ReleasesThreshold)
	}
	// The maintainers can propose it again.
	id2 := govPendingID(t, alice.MustRun("project", "threshold", "slow", "--releases", "2", "--yes"), "slow")
	if id2 == id {
		t.Fatal("a new pending change reuses the expired one's id")
	}
	if r := bob.Run("approve", "slow", id2, "--yes"); r.Code == 0 {
		govMustPublish(t, r)
		if v := govShow(t, bob, "slow"); v.ReleasesThreshold != 2 {
			t.Fatalf("releases threshold %d after approval", v.ReleasesThreshold)
		}
	} else if !strings.Contains(r.Stderr, "no pending change") {
		// Only an expiry (a slow machine) may stop it.
		t.Fatalf("approve of a fresh change: %s", r.Stderr)
	}
}

// ---------------------------------------------------------------------------
// 8. A pending change that no longer applies, because another change was
// published first, is refused by approve with a clear message.

func TestGovernanceStalePendingChange(t *testing.T) {
	needSQLite(t) // edits the SQLite state file directly
	srv := StartServer(t)
	alice := NewMaintainer(t, srv, "alice")
	bob := NewMaintainer(t, srv, "bob")
	carol := NewMaintainer(t, srv, "carol")
	dir := t.TempDir()
	v1 := []byte("race 1.0.0")
	govTwoMaintainers(t, alice, bob, "race", WriteFile(t, dir, "race-1.0.0.tar.gz", v1))

	// Two releases proposed on the same published state.
	x := govPendingID(t, alice.MustRun("release", "upload", "race", "2.0.0", WriteFile(t, dir, "race-2.0.0.tar.gz", []byte("race 2.0.0 by alice"))), "race")
	y := govPendingID(t, bob.MustRun("release", "upload", "race", "2.0.1", WriteFile(t, dir, "race-2.0.1.tar.gz", []byte("race 2.0.1 by bob"))), "race")
	db := govDB(t, srv)
	// bob's tool verifies x while it still applies (twice: an approval
	// signs the fetched copy, and two are sent below).
	tool := govTool(t, bob)
	var fetched [2]*maintainer.Pending
	for i := range fetched {
		list, _, err := tool.ListPending(context.Background(), "race")
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range list {
			if p.ID == x {
				fetched[i] = p
			}
		}
		if fetched[i] == nil || len(list) != 2 {
			t.Fatalf("bob's tool offers %d change(s), without %s", len(list), x)
		}
	}

	// alice approves bob's 2.0.1 first; before signing she is told that it
	// supersedes her own 2.0.0.
	r := alice.MustRun("approve", "race", y, "--yes")
	govMustSay(t, "approve that supersedes", r.Stderr, "once published, it supersedes 1 pending change(s)", "  - "+x+": add release 2.0.0")
	govMustPublish(t, r)
	if got := carol.MustRun("versions", "race").Stdout; got != "2.0.1\n1.0.0\n" {
		t.Fatalf("versions = %q", got)
	}

	// x can never apply. It stays listed as superseded, and its author is
	// told how to make it again; nobody can sign it.
	if _, still := govPendingRowOf(t, db, x); !still {
		t.Fatal("the server dropped the superseded change; its author would never know")
	}
	govMustSay(t, "bob's pending --all", bob.MustRun("pending", "race", "--all").Stderr, "pending change "+x+" of race is not offered: it no longer applies", "it is superseded", "kept until ")
	govMustSay(t, "alice's pending", alice.MustRun("pending").Stderr, "pending change "+x+" of race is not offered", "sign it again on top of the new state with: hallmark pending resign race "+x)
	var rows []struct {
		ID         string `json:"id"`
		Superseded bool   `json:"superseded"`
	}
	if err := json.Unmarshal([]byte(bob.MustRun("pending", "race", "--all", "--json").Stdout), &rows); err != nil || len(rows) != 1 || rows[0].ID != x || !rows[0].Superseded {
		t.Fatalf("pending --all --json = %+v (%v)", rows, err)
	}
	r = bob.MustFail("refusing to sign pending change "+x+": it no longer applies", "approve", "race", x, "--yes")
	govMustSay(t, "approve of a superseded change", r.Stderr, "it is superseded", "hallmark pending resign race "+x)
	bob.MustFail("race has no pending change to approve", "approve", "race", "--yes")
	if page := govPage(t, srv.URL+"/p/race"); !strings.Contains(page, `id="superseded-`+x+`"`) {
		t.Error("the web page does not show the superseded change")
	}
	before := govPublished(t, srv)
	// A signature sent anyway (the tool fetched x while it applied) is
	// refused by the server.
	_, err := tool.Approve(context.Background(), fetched[0], govKey(t, bob, "bob"))
	var ae *maintainer.APIError
	if !errors.As(err, &ae) || ae.Status != http.StatusConflict || !strings.Contains(ae.Body.Message, "the pending change no longer applies (it is superseded)") {
		t.Fatalf("approving a superseded change: %v", err)
	}
	govSamePublished(t, before, govPublished(t, srv))
	carol.MustFail("has no version 2.0.0", "get", "race@2.0.0")

	// Only its author's machine can make it again, with one command, on top
	// of the new state: it waits for bob like the first time.
	bob.MustFail("this machine did not make pending change "+x, "pending", "resign", "race", x, "--yes")
	r = alice.MustRun("pending", "resign", "race", x, "--yes")
	govMustSay(t, "pending resign", r.Stderr, "making superseded change "+x+" of race again", "add release 2.0.0: 1 file(s)", "waits for more signatures")
	z := govPendingID(t, r, "race")
	govMustPublish(t, bob.MustRun("approve", "race", z, "--yes"))
	if got := carol.MustRun("versions", "race").Stdout; got != "2.0.1\n2.0.0\n1.0.0\n" {
		t.Fatalf("versions after the re-signed change = %q", got)
	}
	alice.MustFail("race 2.0.0 is already published with exactly these files", "pending", "resign", "race", z, "--yes")
}

func govPage(t testing.TB, u string) string {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}
