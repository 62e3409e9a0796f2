package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/theupdateframework/go-tuf/v2/metadata"

	"hallmark.dev/hallmark/api"
	"hallmark.dev/hallmark/layout"
	"hallmark.dev/hallmark/signing"
	"hallmark.dev/hallmark/tufmeta"
)

// writeAttack is a forged write request sent to the server's API. It must
// be refused with status and an error containing want, and change nothing
// stored or published.
type writeAttack struct {
	name     string
	attacker string
	refusal  string
	status   int
	want     string
	// perProject runs the attack once against the claimed and once
	// against the unclaimed project; otherwise on says what it targets.
	perProject bool
	on         string
	req        func(t *testing.T, r *suiteRepo, p *suiteProject) writeRequest
}

// mallory is a key nobody in the repository knows.
func mallory(t testing.TB) *signing.Key {
	t.Helper()
	k, err := signing.Generate("mallory")
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// releaseWith is alice's next releases role of p, with one more signed
// target at path and nothing else changed. The file is not uploaded: the
// server checks uploaded paths before it reads the change (400), and this
// tests the signed role.
func releaseWith(t *testing.T, r *suiteRepo, p, path string) writeRequest {
	rel := nextForgedRelease(t, r.alice, p, "", nil)
	rel.role.Signed.Targets[path] = signedTarget([]byte("evil"))
	return rel.sign(t, r.aliceKey).request(t)
}

// createWithOwners is a project creation whose owners are keys/ids with
// threshold, both roles signed by signers.
// The project index is not uploaded when withIndex is false: the server
// checks uploaded paths (the index's holds the name) before the change.
func createWithOwners(t *testing.T, name string, withIndex bool, keys map[string]*metadata.Key, ids []string, threshold int, signers ...*signing.Key) writeRequest {
	t.Helper()
	project := layout.Normalize(name)
	ix, err := (&layout.Index{Project: project}).Marshal()
	if err != nil {
		t.Fatal(err)
	}
	pol := layout.DefaultPolicy()
	owners := metadata.Targets(pol.ExpiresAt(layout.OwnersRole(project), time.Now()))
	owners.Signed.Delegations = &metadata.Delegations{Keys: keys, Roles: []metadata.DelegatedRole{{
		Name: layout.ReleasesRole(project), KeyIDs: ids, Threshold: threshold, Terminating: true, Paths: layout.DelegationPaths(project),
	}}}
	releases := metadata.Targets(pol.ExpiresAt(layout.ReleasesRole(project), time.Now()))
	releases.Signed.Targets[layout.IndexPath(project)] = signedTarget(ix)
	if err := tufmeta.Sign(owners, signers...); err != nil {
		t.Fatal(err)
	}
	if err := tufmeta.Sign(releases, signers...); err != nil {
		t.Fatal(err)
	}
	oj, _ := tufmeta.Encode(owners)
	rj, _ := tufmeta.Encode(releases)
	change, err := json.Marshal(api.ChangeRequest{Project: name, Owners: &api.Owners{Keys: keys, KeyIDs: ids, Threshold: threshold}, OwnersRole: oj, ReleasesRole: rj})
	if err != nil {
		t.Fatal(err)
	}
	if !withIndex {
		return multipartWrite(t, "/api/v1/projects", change)
	}
	return multipartWrite(t, "/api/v1/projects", change, filePart{layout.IndexPath(project), ix})
}

// withReleasesRole re-encodes a release request after edit changed the
// encoded releases role (signatures kept as they are).
func withReleasesRole(t *testing.T, r *suiteRepo, project string, edit func(role []byte) []byte) writeRequest {
	t.Helper()
	rel := nextForgedRelease(t, r.alice, project, "", nil).sign(t, r.aliceKey)
	role, err := tufmeta.Encode(rel.role)
	if err != nil {
		t.Fatal(err)
	}
	change := `{"project":"` + project + `","releases_role":` + string(edit(role)) + `}`
	return multipartWrite(t, "/api/v1/projects/"+project+"/changes", []byte(change), rel.parts()...)
}

// rawChange is a write whose change part is the given text.
func rawChange(project, change string) writeRequest {
	return encodeWrite("/api/v1/projects/"+project+"/changes", []byte(change))
}

// ownersChange is owners role md of project, signed by keys, as a change.
func ownersChange(t *testing.T, project string, md *tufmeta.Targets, keys ...*signing.Key) writeRequest {
	t.Helper()
	md.Signatures = nil
	if err := tufmeta.Sign(md, keys...); err != nil {
		t.Fatal(err)
	}
	oj, _ := tufmeta.Encode(md)
	change, _ := json.Marshal(api.ChangeRequest{Project: project, OwnersRole: oj})
	return multipartWrite(t, "/api/v1/projects/"+project+"/changes", change)
}

// oneKey is the owners keys map and key ids of k alone.
func oneKey(k *signing.Key) (map[string]*metadata.Key, []string) {
	return map[string]*metadata.Key{k.ID(): k.Public().TUF()}, []string{k.ID()}
}

var writeAttacks = []writeAttack{
	// Key-id games.
	{name: "key-id games: one signature listed twice", on: "duo", attacker: capMaintainer, refusal: "400: a key signs once",
		status: 400, want: "multiple signatures found for key ID",
		req: func(t *testing.T, r *suiteRepo, _ *suiteProject) writeRequest {
			rel := nextForgedRelease(t, r.alice, r.duo, "9.0.0", map[string][]byte{"duo-pair-9.0.0.tar.gz": []byte("duo 9")}).sign(t, r.aliceKey)
			rel.role.Signatures = append(rel.role.Signatures, rel.role.Signatures[0])
			return rel.request(t)
		}},
	{name: "key-id games: the same signature again under its key id in upper case", on: "duo", attacker: capMaintainer, refusal: "refused: the upper-case id names no maintainer, so the signature counts once",
		status: 422, want: "not one of the project's maintainers",
		req: func(t *testing.T, r *suiteRepo, _ *suiteProject) writeRequest {
			rel := nextForgedRelease(t, r.alice, r.duo, "9.0.0", map[string][]byte{"duo-pair-9.0.0.tar.gz": []byte("duo 9")}).sign(t, r.aliceKey)
			s := rel.role.Signatures[0]
			s.KeyID = strings.ToUpper(s.KeyID)
			rel.role.Signatures = append(rel.role.Signatures, s)
			return rel.request(t)
		}},
	{name: "key-id games: one key under two ids in a new project's owners", on: "new", attacker: capOutsider, refusal: "422: a public key named by two key ids",
		status: 422, want: "names a public key that another key id names too",
		req: func(t *testing.T, r *suiteRepo, _ *suiteProject) writeRequest {
			m := mallory(t)
			keys, ids := oneKey(m)
			alias := strings.Repeat("ab", 32)
			keys[alias], ids = m.Public().TUF(), append(ids, alias)
			return createWithOwners(t, "twin-keys", true, keys, ids, 2, m)
		}},
	{name: "key-id games: an owner key written in upper-case hex", on: "new", attacker: capOutsider, refusal: "422: keys in their one canonical spelling",
		status: 422, want: "lower-case hex",
		req: func(t *testing.T, r *suiteRepo, _ *suiteProject) writeRequest {
			m := mallory(t)
			k := m.Public().TUF()
			upper := *k
			upper.Value.PublicKey = strings.ToUpper(k.Value.PublicKey)
			id, _ := upper.ID()
			keys, ids := oneKey(m)
			keys[id], ids = &upper, append(ids, id)
			return createWithOwners(t, "hex-case", true, keys, ids, 2, m)
		}},
	// Threshold games.
	{name: "threshold games: owners threshold 0", on: "new", attacker: capOutsider, refusal: "422: threshold between 1 and the number of keys",
		status: 422, want: "threshold 0 must be between 1 and the number of keys",
		req: func(t *testing.T, r *suiteRepo, _ *suiteProject) writeRequest {
			m := mallory(t)
			keys, ids := oneKey(m)
			return createWithOwners(t, "no-threshold", true, keys, ids, 0, m)
		}},
	{name: "threshold games: owners threshold above the number of keys", on: "new", attacker: capOutsider, refusal: "422: threshold between 1 and the number of keys",
		status: 422, want: "threshold 2 must be between 1 and the number of keys (1)",
		req: func(t *testing.T, r *suiteRepo, _ *suiteProject) writeRequest {
			m := mallory(t)
			keys, ids := oneKey(m)
			return createWithOwners(t, "high-threshold", true, keys, ids, 2, m)
		}},
	{name: "threshold games: negative owners threshold", on: "new", attacker: capOutsider, refusal: "422: threshold between 1 and the number of keys",
		status: 422, want: "threshold -1 must be between 1",
		req: func(t *testing.T, r *suiteRepo, _ *suiteProject) writeRequest {
			m := mallory(t)
			keys, ids := oneKey(m)
			return createWithOwners(t, "negative-threshold", true, keys, ids, -1, m)
		}},
	{name: "threshold games: a maintainer who is not an owner lowers the releases threshold", on: "duo", attacker: capMaintainer, refusal: "422: only owners sign the owners role",
		status: 422, want: "not one of the project's owners",
		req: func(t *testing.T, r *suiteRepo, _ *suiteProject) writeRequest {
			md := govCloneTargets(t, govVerified(t, r.bob, r.duo).OwnersRole)
			md.Signed.Version++
			md.Signed.Delegations.Roles[0].Threshold = 1
			return ownersChange(t, r.duo, md, r.bobKey)
		}},
	// Replays of signed changes to other projects or versions. The
	// network attacker holds a change alice signed for one project (in
	// flight, or from the public pending list), at the version that also
	// follows the other project's.
	{name: "replay: alice's signed owners role of her other project sent as this one's", attacker: capNetwork, refusal: "422: the role delegates another project's releases",
		perProject: true, status: 422, want: `delegates "`,
		req: func(t *testing.T, r *suiteRepo, p *suiteProject) writeRequest {
			other := r.projects[0]
			if other == p {
				other = r.projects[1]
			}
			md := govCloneTargets(t, govVerified(t, r.alice, other.name).OwnersRole)
			md.Signed.Version = govVerified(t, r.alice, p.name).OwnersRole.Signed.Version + 1
			return ownersChange(t, p.name, md, r.aliceKey)
		}},
	{name: "replay: alice's signed releases role of her other project sent as this one's", attacker: capNetwork, refusal: "422: the role lists no index of this project (its targets are the other project's)",
		perProject: true, status: 422, want: `lists no project index`,
		req: func(t *testing.T, r *suiteRepo, p *suiteProject) writeRequest {
			other := r.projects[0]
			if other == p {
				other = r.projects[1]
			}
			rel := nextForgedRelease(t, r.alice, other.name, "", nil)
			mine := nextForgedRelease(t, r.alice, p.name, "", nil)
			rel.role.Signed.Version = mine.role.Signed.Version
			role, _ := tufmeta.Encode(rel.sign(t, r.aliceKey).role)
			change, _ := json.Marshal(api.ChangeRequest{Project: p.name, ReleasesRole: role})
			return multipartWrite(t, "/api/v1/projects/"+p.name+"/changes", change, mine.parts()...)
		}},
	{name: "replay: the published releases role sent again", attacker: capOutsider, refusal: "409: not the published version plus one",
		perProject: true, status: 409, want: "does not follow the published version",
		req: func(t *testing.T, r *suiteRepo, p *suiteProject) writeRequest {
			cur := govVerified(t, r.alice, p.name)
			role, _ := tufmeta.Encode(cur.ReleasesRole)
			ix, _ := cur.Index.Marshal()
			change, _ := json.Marshal(api.ChangeRequest{Project: p.name, ReleasesRole: role})
			return multipartWrite(t, "/api/v1/projects/"+p.name+"/changes", change, filePart{layout.IndexPath(p.name), ix})
		}},
	// Malformed and duplicate-key JSON.
	{name: "JSON: the project named twice", on: "unclaimed", attacker: capOutsider, refusal: "400: repeated member names are refused",
		status: 400, want: "project",
		req: func(t *testing.T, r *suiteRepo, _ *suiteProject) writeRequest {
			return rawChange("open-door", `{"project":"open-door","project":"fort-knox","releases_role":{}}`)
		}},
	{name: "JSON: a member name differing only in case", on: "unclaimed", attacker: capOutsider, refusal: "400: case-folded member names are refused",
		status: 400, want: "Project",
		req: func(t *testing.T, r *suiteRepo, _ *suiteProject) writeRequest {
			return rawChange("open-door", `{"project":"open-door","Project":"fort-knox","releases_role":{}}`)
		}},
	{name: "JSON: a repeated member inside the signed role", on: "unclaimed", attacker: capOwnKey, refusal: "400: the signed bytes must mean one thing",
		status: 400, want: "version",
		req: func(t *testing.T, r *suiteRepo, _ *suiteProject) writeRequest {
			return withReleasesRole(t, r, "open-door", func(role []byte) []byte {
				return bytes.Replace(role, []byte(`"version":`), []byte(`"version":99,"version":`), 1)
			})
		}},
	{name: "JSON: a repeated member inside a signature", on: "unclaimed", attacker: capOwnKey, refusal: "400: repeated member names are refused",
		status: 400, want: "sig",
		req: func(t *testing.T, r *suiteRepo, _ *suiteProject) writeRequest {
			return withReleasesRole(t, r, "open-door", func(role []byte) []byte {
				return bytes.Replace(role, []byte(`"sig":`), []byte(`"sig":"00","sig":`), 1)
			})
		}},
	{name: "JSON: invalid UTF-8", on: "unclaimed", attacker: capOutsider, refusal: "400: not valid JSON",
		status: 400, want: `invalid UTF-8`,
		req: func(t *testing.T, r *suiteRepo, _ *suiteProject) writeRequest {
			return rawChange("open-door", "{\"project\":\"open-door\xff\"}")
		}},
	{name: "JSON: nested 100000 deep", on: "unclaimed", attacker: capOutsider, refusal: "400, and the server stays up",
		status: 400, want: `exceeded max depth`,
		req: func(t *testing.T, r *suiteRepo, _ *suiteProject) writeRequest {
			return rawChange("open-door", `{"project":"open-door","releases_role":`+strings.Repeat("[", 100000)+strings.Repeat("]", 100000)+`}`)
		}},
	{name: "JSON: a role version too large for any integer", on: "unclaimed", attacker: capOutsider, refusal: "400: not valid metadata",
		status: 400, want: `unmarshal number 1e400`,
		req: func(t *testing.T, r *suiteRepo, _ *suiteProject) writeRequest {
			return withReleasesRole(t, r, "open-door", func(role []byte) []byte {
				i := bytes.Index(role, []byte(`"version":`)) + len(`"version":`)
				j := i + bytes.IndexAny(role[i:], ",}")
				return append(append(bytes.Clone(role[:i]), "1e400"...), role[j:]...)
			})
		}},
	{name: "JSON: the change is an array", on: "unclaimed", attacker: capOutsider, refusal: "400: not a change",
		status: 400, want: `unmarshal JSON array into Go api.ChangeRequest`,
		req: func(t *testing.T, r *suiteRepo, _ *suiteProject) writeRequest { return rawChange("open-door", `[]`) }},
}

// nameAttacks are project names a creation tries; each is refused with
// status and want.
var nameAttacks = []struct {
	name, project string
	status        int
	want          string
}{
	{"unicode letter", "fört-knox", 400, "is not valid"},
	{"fullwidth letters", "ｆｏｒｔ-knox", 400, "is not valid"},
	{"zero-width joiner", "fort\u200dknox", 400, "is not valid"},
	{"right-to-left override", "fort\u202eknox", 400, "is not valid"},
	{"NUL byte", "fort\x00knox", 400, "is not valid"},
	{"slash", "fort/knox", 400, "is not valid"},
	{"normalizes to a claimed project: case", "Fort-Knox", 409, "exists already"},
	{"normalizes to a claimed project: separators", "fort_.knox", 409, "exists already"},
	{"normalizes to an unclaimed project", "OPEN__door", 409, "exists already"},
	{"201 bytes", strings.Repeat("a", 201), 400, "the limit is 200"},
	{"64 KiB", strings.Repeat("a", 64<<10), 400, ""},
	{"reserved: root", "root", 400, "is reserved"},
	{"reserved: Targets", "Targets", 400, "is reserved"},
	{"reserved: timestamp", "timestamp", 400, "is reserved"},
	{"reserved: snapshot", "snapshot", 400, "is reserved"},
	{"reserved: claimed", "claimed", 400, "is reserved"},
	{"reserved: new", "new", 400, "is reserved"},
	{"reserved: index", "index", 400, "is reserved"},
}

// pathAttacks are signed target paths of a release; each is refused.
var pathAttacks = []struct{ name, path, want string }{
	{"dot-dot segment", "%s/1.0.9/../../victim/index.json", "is not <project>/index.json or <project>/<version>/<file>"},
	{"a directory named like the index", "%s/1.0.9/index.json/x", "is not <project>/index.json or <project>/<version>/<file>"},
	{"unicode file name", "%s/1.0.9/évil.tar.gz", "is not valid"},
	{"file name of 300 bytes", "%s/1.0.9/" + strings.Repeat("x", 300), "is longer than 200 bytes"},
	{"version with a leading zero", "%s/01.0.9/x.tar.gz", "is not a SemVer 2.0 version"},
	{"version with a v", "%s/v1.0.9/x.tar.gz", "is not a SemVer 2.0 version"},
	{"backslash", `%s/1.0.9/..\..\x`, "is not valid"},
	{"project segment not normalized", "%s/1.0.9/x.tar.gz|upper", "is not a normalized project name"},
	{"empty segment", "%s//x.tar.gz", "is not a SemVer 2.0 version"},
}

// sendAndCheck posts req and checks the refusal and that nothing changed.
func sendAndCheck(t *testing.T, r *suiteRepo, req writeRequest, status int, want string) {
	t.Helper()
	before := captureRepoState(t, r.srv, r.verifier, r.names()...)
	got, e := sendWrite(t, r.srv, req)
	t.Logf("HTTP %d %s: %s", got, e.Code, e.Message)
	if got != status || !strings.Contains(e.Message, want) {
		t.Errorf("HTTP %d %q; want %d with %q", got, e.Message, status, want)
	}
	if e.Code == "" || e.Message == "" {
		t.Errorf("the error has no code or message: %+v", e)
	}
	assertSameRepoState(t, before, captureRepoState(t, r.srv, r.verifier, r.names()...))
	if _, err := http.Get(r.srv.URL + "/healthz"); err != nil {
		t.Fatalf("the server is down after the request: %v", err)
	}
}

func (r *suiteRepo) names() []string { return []string{"fort-knox", "open-door", r.duo} }

// runWriteAttacks runs every write attack against r.
func runWriteAttacks(t *testing.T, r *suiteRepo) {
	for _, a := range writeAttacks {
		targets := []*suiteProject{nil}
		if a.perProject {
			targets = r.projects
		}
		for _, p := range targets {
			name := a.name
			if p != nil {
				name = p.kind + "/" + a.name
			}
			t.Run(name, func(t *testing.T) {
				t.Logf("attacker: %s; expected: %s", a.attacker, a.refusal)
				sendAndCheck(t, r, a.req(t, r, p), a.status, a.want)
			})
		}
	}
	for _, n := range nameAttacks {
		t.Run("names: "+n.name, func(t *testing.T) {
			t.Logf("attacker: %s; expected: %d", capOutsider, n.status)
			m := mallory(t)
			keys, ids := oneKey(m)
			sendAndCheck(t, r, createWithOwners(t, n.project, false, keys, ids, 1, m), n.status, n.want)
		})
	}
	for _, p := range r.projects {
		for _, pa := range pathAttacks {
			t.Run(p.kind+"/paths: "+pa.name, func(t *testing.T) {
				t.Logf("attacker: %s; expected: 422", capOwnKey)
				path := fmt.Sprintf(pa.path, p.name)
				if strings.HasSuffix(path, "|upper") {
					path = strings.ToUpper(p.name[:1]) + strings.TrimSuffix(path, "|upper")[1:]
				}
				sendAndCheck(t, r, releaseWith(t, r, p.name, path), 422, pa.want)
			})
		}
	}
	runThresholdAttacks(t, r)
	runCeremonyAttacks(t, r)
}

// sequenceAttacks are the cases of runThresholdAttacks, in order: each
// builds on the pending change the first one leaves.
var sequenceAttacks = []struct{ name, attacker, refusal string }{
	{"threshold games: one maintainer of two signs a release", capMaintainer, "202 pending, 1 of 2 signatures; nothing published"},
	{"duplicate signatures: the maintainer's co-signature sent again", capMaintainer, "202: counted once, still 1 of 2; nothing published"},
	{"duplicate signatures: the co-signature under its key id in upper case", capMaintainer, "422: the id names no maintainer; nothing published"},
	{"replay: alice's signature from another project's change sent as a co-signature", capMaintainer, "422: it does not verify; nothing published"},
}

// runThresholdAttacks: bob's key alone (a stolen maintainer key below the
// releases threshold of 2) gets a release pending, never published, and
// neither sending his signature again nor replaying alice's signature from
// another project's change completes it.
func runThresholdAttacks(t *testing.T, r *suiteRepo) {
	var pending api.PendingChange
	logCase := func(t *testing.T, i int) {
		t.Logf("attacker: %s; expected: %s", sequenceAttacks[i].attacker, sequenceAttacks[i].refusal)
	}
	t.Run(sequenceAttacks[0].name, func(t *testing.T) {
		logCase(t, 0)
		before := captureRepoState(t, r.srv, r.verifier, r.names()...)
		rel := nextForgedRelease(t, r.bob, r.duo, "9.9.9", map[string][]byte{"duo-pair-9.9.9.tar.gz": []byte("duo 9.9.9 by bob alone")}).sign(t, r.bobKey)
		status, body := postRaw(t, r.srv, rel.request(t))
		var resp api.ChangeResponse
		if err := json.Unmarshal(body, &resp); err != nil || resp.Status != api.StatusPending || resp.SignaturesValid != 1 || resp.Threshold != 2 {
			t.Fatalf("HTTP %d %s; want pending with 1 of 2 signatures", status, body)
		}
		after := captureRepoState(t, r.srv, r.verifier, r.names()...)
		if after.Versions[r.duo] != before.Versions[r.duo] {
			t.Fatalf("published: %s → %s", before.Versions[r.duo], after.Versions[r.duo])
		}
		list := govServerPending(t, r.srv, r.duo)
		if len(list) != 1 {
			t.Fatalf("pending: %+v", list)
		}
		pending = list[0]
	})
	if pending.ID == "" {
		return
	}
	cosign := func(t *testing.T, sigs []metadata.Signature, status int, want string) {
		t.Helper()
		before := captureRepoState(t, r.srv, r.verifier, r.names()...)
		body, _ := json.Marshal(api.SignaturesRequest{ReleasesRole: sigs})
		resp, err := http.Post(r.srv.URL+"/api/v1/projects/"+r.duo+"/pending/"+pending.ID+"/signatures", "application/json", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		out, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		t.Logf("HTTP %d %s", resp.StatusCode, out)
		if resp.StatusCode != status || !strings.Contains(string(out), want) {
			t.Errorf("HTTP %d %s; want %d with %q", resp.StatusCode, out, status, want)
		}
		after := captureRepoState(t, r.srv, r.verifier, r.names()...)
		if after.Versions[r.duo] != before.Versions[r.duo] {
			t.Fatalf("published: %s → %s", before.Versions[r.duo], after.Versions[r.duo])
		}
	}
	bobSig := govDecodeChange(t, pending.Change).releases.Signatures
	t.Run(sequenceAttacks[1].name, func(t *testing.T) {
		logCase(t, 1)
		cosign(t, bobSig, http.StatusAccepted, `"signatures_valid":1,"threshold":2`)
	})
	t.Run(sequenceAttacks[2].name, func(t *testing.T) {
		logCase(t, 2)
		s := bobSig[0]
		s.KeyID = strings.ToUpper(s.KeyID)
		cosign(t, []metadata.Signature{s}, 422, "not one of the project's maintainers")
	})
	t.Run(sequenceAttacks[3].name, func(t *testing.T) {
		logCase(t, 3)
		other := nextForgedRelease(t, r.alice, "open-door", "", nil).sign(t, r.aliceKey)
		cosign(t, other.role.Signatures, 422, "does not verify")
	})
}

// postRaw posts a write and returns the status and body.
func postRaw(t *testing.T, srv *Server, req writeRequest) (int, []byte) {
	t.Helper()
	resp, err := http.Post(srv.URL+req.path, req.contentType, bytes.NewReader(req.body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}
