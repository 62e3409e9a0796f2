package e2e

// Attack tests: an attacker who owns the server (its data directory, its
// online secret, its HTTP answers) tries to make a downloader accept
// something the maintainers did not sign, or to make the server publish
// something the published delegations do not allow. Every attack must fail
// closed with a clear error and change no stored state (DESIGN.md section 6).

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"mime/multipart"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/theupdateframework/go-tuf/v2/metadata"

	"hallmark.dev/hallmark/api"
	"hallmark.dev/hallmark/client"
	"hallmark.dev/hallmark/layout"
	"hallmark.dev/hallmark/signing"
	"hallmark.dev/hallmark/tufmeta"
	"hallmark.dev/hallmark/witness"
)

// userPassphrase is the key passphrase every harness user has (HALLMARK_PASSPHRASE).
const userPassphrase = "correct horse"

// verificationHint is what the CLI says after any verification failure.
const verificationHint = "does not verify against your pinned trust"

// projectShard is the shard of a project in a --dev repository (default shard count).
func projectShard(t testing.TB, name string) string {
	t.Helper()
	p, err := layout.ParseProjectName(name)
	if err != nil {
		t.Fatal(err)
	}
	return layout.ShardOf(p, layout.DefaultShards)
}

// nameInShard returns the first name "<prefix>-<i>" that lives in shard
// (or, with shard "", in any shard not in avoid).
func nameInShard(t testing.TB, prefix, shard string, avoid ...string) string {
	t.Helper()
	for i := range 10000 {
		n := fmt.Sprintf("%s-%d", prefix, i)
		s := projectShard(t, n)
		if (shard == "" || s == shard) && !slices.Contains(avoid, s) {
			return n
		}
	}
	t.Fatalf("no name with prefix %s in shard %q", prefix, shard)
	return ""
}

// loadUserKey opens a harness user's signing key.
func loadUserKey(t testing.TB, u *User, name string) *signing.Key {
	t.Helper()
	k, err := signing.Keyring{Dir: filepath.Join(u.Home, "keys")}.Load(name, []byte(userPassphrase))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// ---------------------------------------------------------------------------
// The attacker: owns the data directory and the online secret.

type attacker struct {
	t      testing.TB
	srv    *Server
	secret []byte
	// refusals are the witness's reasons for not co-signing the
	// attacker's timestamps, in order.
	refusals []string
}

func newAttacker(t testing.TB, srv *Server) *attacker {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(srv.Data, "online.secret"))
	if err != nil {
		t.Fatal(err)
	}
	secret, err := hex.DecodeString(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	return &attacker{t: t, srv: srv, secret: secret}
}

// key derives a shard's online key, exactly as the server does.
func (a *attacker) key(shard, role string) *signing.Key {
	a.t.Helper()
	k, err := signing.DeriveOnline(a.secret, shard, role)
	if err != nil {
		a.t.Fatal(err)
	}
	return k
}

func (a *attacker) path(shard, file string) string {
	return a.srv.BlobPath(layout.MetadataBlobPath(shard, file))
}

func (a *attacker) read(shard, file string) []byte {
	a.t.Helper()
	b, err := os.ReadFile(a.path(shard, file))
	if err != nil {
		a.t.Fatal(err)
	}
	return b
}

func (a *attacker) write(shard, file string, data []byte) {
	a.t.Helper()
	if err := os.WriteFile(a.path(shard, file), data, 0o644); err != nil {
		a.t.Fatal(err)
	}
}

func (a *attacker) timestamp(shard string) *tufmeta.Timestamp {
	a.t.Helper()
	ts, err := tufmeta.Decode[metadata.TimestampType](a.read(shard, "timestamp.json"))
	if err != nil {
		a.t.Fatal(err)
	}
	return ts
}

// snapshot returns the shard's current snapshot, as its timestamp names it.
func (a *attacker) snapshot(shard string) *tufmeta.Snapshot {
	a.t.Helper()
	v := a.timestamp(shard).Signed.Meta["snapshot.json"].Version
	snap, err := tufmeta.Decode[metadata.SnapshotType](a.read(shard, layout.MetadataFile(layout.RoleSnapshot, v)))
	if err != nil {
		a.t.Fatal(err)
	}
	return snap
}

// publishTimestamp signs, with the shard's real timestamp key, a timestamp
// of the given version and expiry that points at snapData, and serves it.
func (a *attacker) publishTimestamp(shard string, version int64, expires time.Time, snapVersion int64, snapData []byte) {
	a.t.Helper()
	ts := metadata.Timestamp(expires)
	ts.Signed.Version = version
	sum := sha256.Sum256(snapData)
	ts.Signed.Meta = map[string]*metadata.MetaFiles{"snapshot.json": {
		Version: snapVersion, Length: int64(len(snapData)), Hashes: metadata.Hashes{"sha256": sum[:]},
	}}
	if err := tufmeta.Sign(ts, a.key(shard, layout.RoleTimestamp)); err != nil {
		a.t.Fatal(err)
	}
	a.witnessCosign(shard, ts, snapData)
	data, err := tufmeta.Encode(ts)
	if err != nil {
		a.t.Fatal(err)
	}
	a.write(shard, "timestamp.json", data)
}

// witnessCosign asks the repository's witness to co-sign ts, exactly as the
// server would (the attacker holds the server), and adds the signature if
// the witness gives it. A witness refuses rollbacks; what it signs, the
// client's own checks must stop.
func (a *attacker) witnessCosign(shard string, ts *tufmeta.Timestamp, snapData []byte) (refusal string) {
	a.t.Helper()
	url := a.srv.WitnessURL()
	if url == "" {
		return ""
	}
	var roots [][]byte
	for v := int64(1); ; v++ {
		b, err := os.ReadFile(a.path(shard, layout.MetadataFile(layout.RoleRoot, v)))
		if err != nil {
			break
		}
		roots = append(roots, b)
	}
	tsData, err := tufmeta.Encode(ts)
	if err != nil {
		a.t.Fatal(err)
	}
	body, _ := json.Marshal(witness.CosignRequest{Requests: []witness.Request{{Shard: shard, Roots: roots, Timestamp: tsData, Snapshot: snapData}}})
	resp, err := http.Post(url+witness.PathCosign, "application/json", bytes.NewReader(body))
	if err != nil {
		a.t.Fatalf("asking the witness: %v", err)
	}
	defer resp.Body.Close()
	var out witness.CosignResponse
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || len(out.Results) != 1 {
		a.t.Fatalf("the witness answered %s: %v", resp.Status, err)
	}
	if r := out.Results[0]; r.Error != "" {
		a.t.Logf("the witness refused to co-sign the attacker's timestamp: %s", r.Error)
		a.refusals = append(a.refusals, r.Error)
		return r.Error
	} else {
		ts.Signatures = append(ts.Signatures, metadata.Signature{KeyID: r.KeyID, Signature: r.Signature})
	}
	return ""
}

// publishSnapshot signs snap with the shard's real snapshot key, serves it
// under its version, and serves a fresh timestamp (version+1) pointing at it.
func (a *attacker) publishSnapshot(shard string, snap *tufmeta.Snapshot) {
	a.t.Helper()
	snap.Signatures = nil
	if err := tufmeta.Sign(snap, a.key(shard, layout.RoleSnapshot)); err != nil {
		a.t.Fatal(err)
	}
	data, err := tufmeta.Encode(snap)
	if err != nil {
		a.t.Fatal(err)
	}
	a.write(shard, layout.MetadataFile(layout.RoleSnapshot, snap.Signed.Version), data)
	ts := a.timestamp(shard)
	a.publishTimestamp(shard, ts.Signed.Version+1, time.Now().Add(24*time.Hour), snap.Signed.Version, data)
}

// readTree reads every regular file below dir, by slash path.
func readTree(t testing.TB, dir string) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		out[filepath.ToSlash(rel)] = b
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// saveTree records a directory; the returned function puts it back exactly
// (removing files the attack added), so the next case starts clean.
func saveTree(t testing.TB, dir string) (restore func()) {
	t.Helper()
	saved := readTree(t, dir)
	return func() {
		t.Helper()
		for p := range readTree(t, dir) {
			if _, ok := saved[p]; !ok {
				if err := os.Remove(filepath.Join(dir, filepath.FromSlash(p))); err != nil {
					t.Fatal(err)
				}
			}
		}
		for p, b := range saved {
			full := filepath.Join(dir, filepath.FromSlash(p))
			if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(full, b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// pinnedUser returns a new user who trusted srv and, when project is set,
// has already verified it once (so its metadata is cached).
func pinnedUser(t testing.TB, srv *Server, project string) *User {
	t.Helper()
	u := NewUser(t, srv)
	u.MustRun("trust", srv.URL, "--yes")
	if project != "" {
		u.MustRun("versions", project)
	}
	return u
}

// mustBeEmpty fails the test unless dir holds nothing at all.
func mustBeEmpty(t testing.TB, dir string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 0 {
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Fatalf("%s is not empty after a refused download: %v", dir, names)
	}
}

// ---------------------------------------------------------------------------
// Download-side attacks.

// TestAttackTamperedArtifact: the attacker replaces the bytes of a published
// file in the blob directory. Both a user with cached metadata and a fresh
// one refuse it, name the tampering, and save nothing — not even the other,
// intact files of the release.
func TestAttackTamperedArtifact(t *testing.T) {
	srv := StartServer(t)
	alice := NewMaintainer(t, srv, "alice")
	alice.MustRun("project", "create", "hello", "--key", "alice")
	dir := t.TempDir()
	good := []byte("hello 1.0.0 source, as signed by alice\n")
	a := WriteFile(t, dir, "hello-1.0.0.tar.gz", []byte("aaaa first file, intact"))
	b := WriteFile(t, dir, "hello-1.0.0.zip", good)
	alice.MustRun("release", "upload", "hello", "1.0.0", a, b)
	bob := pinnedUser(t, srv, "hello")

	sum := sha256.Sum256(good)
	blob := srv.BlobPath("targets/" + layout.TargetBlobPath("hello/1.0.0/hello-1.0.0.zip", hex.EncodeToString(sum[:])))
	if got, err := os.ReadFile(blob); err != nil || !bytes.Equal(got, good) {
		t.Fatalf("published blob not where expected (%v)", err)
	}
	evil := bytes.Clone(good)
	evil[3] ^= 0x20
	for _, tc := range []struct {
		name  string
		bytes []byte
	}{
		{"same length", evil},
		{"longer", append(bytes.Clone(good), "; rm -rf ~\n"...)},
		{"shorter", good[:len(good)-5]},
		{"empty", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := os.WriteFile(blob, tc.bytes, 0o644); err != nil {
				t.Fatal(err)
			}
			defer os.WriteFile(blob, good, 0o644)
			for _, u := range []struct {
				who  string
				user *User
			}{{"cached", bob}, {"fresh", pinnedUser(t, srv, "")}} {
				out := t.TempDir()
				r := u.user.MustFail("hello/1.0.0/hello-1.0.0.zip does not match its signed hash and length: the file was tampered with", "get", "hello@1.0.0", "-o", out)
				if !strings.Contains(r.Stderr, verificationHint) {
					t.Errorf("%s user: no hint after tampering:\n%s", u.who, r.Stderr)
				}
				mustBeEmpty(t, out)
				// A single-file download is refused the same way.
				u.user.MustFail("tampered", "get", "hello@1.0.0", "-o", out, "--file", "hello-1.0.0.zip")
				mustBeEmpty(t, out)
			}
		})
	}
	// Restored, the file downloads again.
	out := t.TempDir()
	bob.MustRun("get", "hello@1.0.0", "-o", out)
	if got, err := os.ReadFile(filepath.Join(out, "hello-1.0.0.zip")); err != nil || !bytes.Equal(got, good) {
		t.Fatalf("after restoring, get = %q, %v", got, err)
	}

	// A tampered project index is refused before anything is listed.
	t.Run("index", func(t *testing.T) {
		restore := saveTree(t, srv.BlobPath("targets/hello"))
		defer restore()
		matches, _ := filepath.Glob(srv.BlobPath("targets/hello/*.index.json"))
		if len(matches) == 0 {
			t.Fatal("no index blob found")
		}
		tampered := 0
		for _, m := range matches {
			data, err := os.ReadFile(m)
			if err != nil {
				t.Fatal(err)
			}
			evil := bytes.Replace(data, []byte(`"1.0.0"`), []byte(`"1.0.1"`), 1)
			if bytes.Equal(evil, data) {
				continue // an older index, without the release
			}
			if err := os.WriteFile(m, evil, 0o644); err != nil {
				t.Fatal(err)
			}
			tampered++
		}
		if tampered == 0 {
			t.Fatal("no index blob names version 1.0.0")
		}
		for _, u := range []*User{bob, pinnedUser(t, srv, "")} {
			u.MustFail("hello/index.json does not match its signed hash and length", "versions", "hello")
			out := t.TempDir()
			u.MustFail("tampered", "get", "hello", "-o", out)
			mustBeEmpty(t, out)
		}
	})
}

// metaMutation changes a published metadata file.
type metaMutation struct {
	name  string
	apply func(t testing.TB, data []byte) []byte
}

var metadataMutations = []metaMutation{
	{"signed part edited", func(t testing.TB, data []byte) []byte {
		// Push the expiry out by a year: a valid JSON document whose
		// signatures no longer cover its content.
		var doc map[string]any
		if err := json.Unmarshal(data, &doc); err != nil {
			t.Fatal(err)
		}
		signed := doc["signed"].(map[string]any)
		exp, err := time.Parse(time.RFC3339, signed["expires"].(string))
		if err != nil {
			t.Fatal(err)
		}
		signed["expires"] = exp.AddDate(1, 0, 0).Format(time.RFC3339)
		out, err := json.Marshal(doc)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}},
	{"signature flipped", func(t testing.TB, data []byte) []byte {
		i := bytes.Index(data, []byte(`"sig":"`))
		if i < 0 {
			t.Fatal("no signature found")
		}
		out := bytes.Clone(data)
		j := i + len(`"sig":"`) + 10
		if out[j] == '0' { // a hex digit becomes another one
			out[j] = '1'
		} else {
			out[j] = '0'
		}
		return out
	}},
	{"byte flipped", func(t testing.TB, data []byte) []byte {
		out := bytes.Clone(data)
		out[len(out)/2] ^= 0x01
		return out
	}},
}

// TestAttackTamperedMetadata: the attacker flips bytes inside published
// metadata files. A fresh client refuses each tampered file it must load; a
// client with cached metadata refuses each tampered file it has not seen yet
// (the ones it has cached it re-verifies locally and never re-downloads).
func TestAttackTamperedMetadata(t *testing.T) {
	srv := StartServer(t)
	att := newAttacker(t, srv)
	alice := NewMaintainer(t, srv, "alice")
	alice.MustRun("project", "create", "hello", "--key", "alice")
	dir := t.TempDir()
	alice.MustRun("release", "upload", "hello", "1.0.0", WriteFile(t, dir, "hello-1.0.0.tar.gz", []byte("hello 1")))
	shard := projectShard(t, "hello")
	mdDir := srv.BlobPath(layout.MetadataBlobPath(shard, ""))

	// current returns the file name of a role's current version.
	current := func(role string) string {
		if role == layout.RoleTimestamp {
			return "timestamp.json"
		}
		if role == layout.RoleSnapshot {
			return layout.MetadataFile(role, att.snapshot(shard).Signed.Version)
		}
		return layout.MetadataFile(role, att.snapshot(shard).Signed.Meta[role+".json"].Version)
	}
	next := 2
	for _, role := range []string{"hello.releases", "hello", layout.NewRole(shard), layout.RoleTargets, layout.RoleSnapshot, layout.RoleTimestamp, layout.RoleRoot} {
		for _, m := range metadataMutations {
			t.Run(role+"/"+m.name, func(t *testing.T) {
				// Fresh client: everything is downloaded and verified.
				file := "1.root.json"
				if role != layout.RoleRoot {
					file = current(role)
				}
				restore := saveTree(t, mdDir)
				att.write(shard, file, m.apply(t, att.read(shard, file)))
				fresh := pinnedUser(t, srv, "")
				want := "failed verification"
				if role == layout.RoleRoot {
					want = "root of shard " + shard
				}
				fresh.MustFail(want, "versions", "hello")
				out := t.TempDir()
				fresh.MustFail(want, "get", "hello", "-o", out)
				mustBeEmpty(t, out)
				restore()
				fresh.MustRun("versions", "hello")

				// Cached client: it verified the project before the server
				// published a new version of the role; the new version is
				// tampered with. (Root and targets are not re-published by
				// writes, and a client re-verifies its cached copies locally
				// without downloading them again.)
				if role == layout.RoleRoot || role == layout.RoleTargets {
					return
				}
				cached := pinnedUser(t, srv, "hello")
				switch role {
				case "hello":
					// Renewing re-signs the owners role.
					alice.MustRun("project", "renew", "hello", "--key", "alice", "--yes")
				case layout.NewRole(shard):
					// Creating a project in the shard re-signs its new bin.
					alice.MustRun("project", "create", nameInShard(t, fmt.Sprintf("other%d", next), shard), "--key", "alice")
				default:
					v := fmt.Sprintf("1.0.%d", next)
					alice.MustRun("release", "upload", "hello", v, WriteFile(t, dir, "hello-"+v+".tar.gz", []byte("hello "+v)))
				}
				next++
				restore = saveTree(t, mdDir)
				defer restore()
				f := current(role)
				att.write(shard, f, m.apply(t, att.read(shard, f)))
				cached.MustFail("failed verification", "versions", "hello")
				out = t.TempDir()
				cached.MustFail("failed verification", "get", "hello", "-o", out)
				mustBeEmpty(t, out)
				restore()
				cached.MustRun("versions", "hello")
			})
		}
	}
}

// TestAttackRollback: the attacker owns the server and its online keys and
// serves older metadata to a client who has seen newer metadata. go-tuf's
// rollback checks refuse it, with a clear error.
func TestAttackRollback(t *testing.T) {
	// Without a witness, so that the attacker's timestamps verify and the
	// client's own rollback checks are what is tested (witnesses refuse
	// these timestamps first: witness_attacks_test.go).
	srv := StartServer(t, "--no-witness")
	att := newAttacker(t, srv)
	alice := NewMaintainer(t, srv, "alice")
	alice.MustRun("project", "create", "hello", "--key", "alice")
	shard := projectShard(t, "hello")
	dir := t.TempDir()
	alice.MustRun("release", "upload", "hello", "1.0.0", WriteFile(t, dir, "hello-1.0.0.tar.gz", []byte("hello 1, vulnerable")))
	oldTimestamp := att.read(shard, "timestamp.json")
	oldSnap := att.snapshot(shard)
	oldReleases := oldSnap.Signed.Meta["hello.releases.json"].Version
	alice.MustRun("release", "upload", "hello", "1.0.1", WriteFile(t, dir, "hello-1.0.1.tar.gz", []byte("hello 1.0.1, security fix")))
	newReleases := att.snapshot(shard).Signed.Meta["hello.releases.json"].Version
	if newReleases != oldReleases+1 {
		t.Fatalf("releases role went from %d to %d", oldReleases, newReleases)
	}
	mdDir := srv.BlobPath(layout.MetadataBlobPath(shard, ""))

	for _, tc := range []struct {
		name   string
		attack func()
		want   string
	}{
		{"snapshot lists the old releases role", func() {
			snap := att.snapshot(shard)
			snap.Signed.Version++
			snap.Signed.Meta["hello.releases.json"] = metadata.MetaFile(oldReleases)
			att.publishSnapshot(shard, snap)
		}, "hello.releases.json"},
		{"timestamp points at the old snapshot", func() {
			ts := att.timestamp(shard)
			old := att.read(shard, layout.MetadataFile(layout.RoleSnapshot, oldSnap.Signed.Version))
			att.publishTimestamp(shard, ts.Signed.Version+1, time.Now().Add(time.Hour), oldSnap.Signed.Version, old)
		}, "new snapshot version"},
		{"old timestamp replayed", func() {
			att.write(shard, "timestamp.json", oldTimestamp)
		}, "new timestamp version"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bob := pinnedUser(t, srv, "hello")
			if got := bob.MustRun("versions", "hello").Stdout; got != "1.0.1\n1.0.0\n" {
				t.Fatalf("before the attack, versions = %q", got)
			}
			restore := saveTree(t, mdDir)
			defer restore()
			tc.attack()
			for _, args := range [][]string{{"versions", "hello"}, {"get", "hello", "-o", t.TempDir()}} {
				r := bob.MustFail("rolled back", args...)
				if !strings.Contains(r.Stderr, tc.want) || !strings.Contains(r.Stderr, "shard "+shard+" failed verification") {
					t.Errorf("hallmark %v: error does not explain the rollback (want %q):\n%s", args, tc.want, r.Stderr)
				}
			}
		})
	}
}

// TestAttackFreeze: the attacker keeps serving metadata that has expired (a
// freeze attack), re-signed with the real online keys. Existing and fresh
// clients refuse it and say that it expired.
func TestAttackFreeze(t *testing.T) {
	// Without a witness: the witness would refuse the expired timestamp
	// (witness_attacks_test.go); this tests the clients' own expiry checks.
	srv := StartServer(t, "--no-witness")
	att := newAttacker(t, srv)
	alice := NewMaintainer(t, srv, "alice")
	alice.MustRun("project", "create", "hello", "--key", "alice")
	alice.MustRun("release", "upload", "hello", "1.0.0", WriteFile(t, t.TempDir(), "hello-1.0.0.tar.gz", []byte("hello")))
	shard := projectShard(t, "hello")
	mdDir := srv.BlobPath(layout.MetadataBlobPath(shard, ""))
	past := time.Now().Add(-time.Hour).UTC().Truncate(time.Second)

	for _, tc := range []struct {
		name   string
		attack func()
		want   string
	}{
		{"expired timestamp", func() {
			ts := att.timestamp(shard)
			snap := att.snapshot(shard)
			data := att.read(shard, layout.MetadataFile(layout.RoleSnapshot, snap.Signed.Version))
			att.publishTimestamp(shard, ts.Signed.Version+1, past, snap.Signed.Version, data)
		}, "timestamp.json is expired"},
		{"expired snapshot", func() {
			snap := att.snapshot(shard)
			snap.Signed.Version++
			snap.Signed.Expires = past
			att.publishSnapshot(shard, snap)
		}, "snapshot.json is expired"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bob := pinnedUser(t, srv, "hello")
			restore := saveTree(t, mdDir)
			defer restore()
			tc.attack()
			for _, u := range []*User{bob, pinnedUser(t, srv, "")} {
				for _, args := range [][]string{{"versions", "hello"}, {"get", "hello", "-o", t.TempDir()}} {
					r := u.MustFail("metadata has expired", args...)
					if !strings.Contains(r.Stderr, tc.want) {
						t.Errorf("hallmark %v: want %q in:\n%s", args, tc.want, r.Stderr)
					}
				}
			}
		})
	}
}

// TestAttackCrossShard: the attacker serves shard A's complete, validly
// signed metadata under shard B's URL. Fresh and existing clients refuse it
// for a project of shard B.
func TestAttackCrossShard(t *testing.T) {
	srv := StartServer(t)
	alice := NewMaintainer(t, srv, "alice")
	nameB := nameInShard(t, "victim", "")
	shardB := projectShard(t, nameB)
	nameA := nameInShard(t, "decoy", "", shardB)
	shardA := projectShard(t, nameA)
	dir := t.TempDir()
	for _, n := range []string{nameA, nameB} {
		alice.MustRun("project", "create", n, "--key", "alice")
		alice.MustRun("release", "upload", n, "1.0.0", WriteFile(t, dir, n+"-1.0.0.tar.gz", []byte(n)))
		alice.MustRun("release", "upload", n, "2.0.0", WriteFile(t, dir, n+"-2.0.0.tar.gz", []byte(n+" 2")))
	}
	dirA := srv.BlobPath(layout.MetadataBlobPath(shardA, ""))
	dirB := srv.BlobPath(layout.MetadataBlobPath(shardB, ""))

	for _, tc := range []struct {
		name    string
		replace bool // remove B's own files first
	}{{"copied over", false}, {"replaced", true}} {
		t.Run(tc.name, func(t *testing.T) {
			existing := pinnedUser(t, srv, nameB)
			restore := saveTree(t, dirB)
			defer restore()
			if tc.replace {
				if err := os.RemoveAll(dirB); err != nil {
					t.Fatal(err)
				}
			}
			for p, b := range readTree(t, dirA) {
				if err := os.MkdirAll(dirB, 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(filepath.Join(dirB, filepath.FromSlash(p)), b, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			fresh := pinnedUser(t, srv, "")
			fresh.MustFail(fmt.Sprintf("root served as shard %s of %d says it belongs to shard %s", shardB, layout.DefaultShards, shardA), "versions", nameB)
			out := t.TempDir()
			fresh.MustFail("belongs to shard "+shardA, "get", nameB, "-o", out)
			mustBeEmpty(t, out)
			existing.MustFail("shard "+shardB+" failed verification", "versions", nameB)
			existing.MustFail("shard "+shardB+" failed verification", "get", nameB, "-o", out)
			mustBeEmpty(t, out)
			// Shard A itself is untouched and still works.
			existing.MustRun("versions", nameA)
		})
	}
	// With shard B restored, both kinds of client read it again.
	pinnedUser(t, srv, nameB)
}

// ---------------------------------------------------------------------------
// Upload-side attacks.

// forgedRelease is a proposed releases role with its index and files, built the
// way `hallmark release upload` builds it, but not signed or sent: the test
// corrupts it first.
type forgedRelease struct {
	project string
	role    *tufmeta.Targets
	index   []byte
	files   map[string][]byte // target path → bytes to upload
}

func signedTarget(data []byte) *metadata.TargetFiles {
	sum := sha256.Sum256(data)
	return &metadata.TargetFiles{Length: int64(len(data)), Hashes: metadata.Hashes{"sha256": sum[:]}}
}

// nextForgedRelease builds, from the project's state as u verifies it through
// TUF, the releases role that adds version with files (with version "", the
// next role with the same releases, for the caller to edit).
func nextForgedRelease(t testing.TB, u *User, project, version string, files map[string][]byte) *forgedRelease {
	t.Helper()
	r, err := buildRelease(context.Background(), u, project, version, files)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// buildRelease is nextForgedRelease for goroutines: it reports errors.
func buildRelease(ctx context.Context, u *User, project, version string, files map[string][]byte) (*forgedRelease, error) {
	cl, err := client.Open(client.Options{Repo: u.Repo, Home: u.Home, HTTP: &http.Client{Timeout: time.Minute}})
	if err != nil {
		return nil, err
	}
	p, err := cl.Project(ctx, project)
	if err != nil {
		return nil, err
	}
	data, err := tufmeta.Encode(p.ReleasesRole)
	if err != nil {
		return nil, err
	}
	role, err := tufmeta.Decode[metadata.TargetsType](data)
	if err != nil {
		return nil, err
	}
	role.Signatures = nil
	role.Signed.Version++
	role.Signed.Expires = layout.DefaultPolicy().ExpiresAt(layout.ReleasesRole(p.Name), time.Now())
	r := &forgedRelease{project: p.Name, role: role, files: map[string][]byte{}}
	ix := *p.Index
	ix.Releases = slices.Clone(ix.Releases)
	rel := layout.Release{Version: version}
	for _, name := range slices.Sorted(maps.Keys(files)) {
		path := layout.FilePath(p.Name, version, name)
		tf := signedTarget(files[name])
		role.Signed.Targets[path] = tf
		r.files[path] = files[name]
		rel.Files = append(rel.Files, layout.FileEntry{Name: name, SHA256: hex.EncodeToString(tf.Hashes["sha256"]), Length: tf.Length})
	}
	if version != "" {
		ix.Releases = append(ix.Releases, rel)
	}
	return r, r.putIndex(&ix)
}

// setIndex makes ix the proposed index, signed into the role.
func (r *forgedRelease) setIndex(t testing.TB, ix *layout.Index) {
	t.Helper()
	if err := r.putIndex(ix); err != nil {
		t.Fatal(err)
	}
}

func (r *forgedRelease) putIndex(ix *layout.Index) error {
	b, err := ix.Marshal()
	if err != nil {
		return err
	}
	r.index = b
	r.role.Signed.Targets[layout.IndexPath(r.project)] = signedTarget(b)
	return nil
}

func (r *forgedRelease) sign(t testing.TB, keys ...*signing.Key) *forgedRelease {
	t.Helper()
	if err := tufmeta.Sign(r.role, keys...); err != nil {
		t.Fatal(err)
	}
	return r
}

// change is the "change" part of the request.
func (r *forgedRelease) change(t testing.TB) []byte {
	t.Helper()
	b, err := r.changeJSON()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func (r *forgedRelease) changeJSON() ([]byte, error) {
	role, err := tufmeta.Encode(r.role)
	if err != nil {
		return nil, err
	}
	return json.Marshal(api.ChangeRequest{Project: r.project, ReleasesRole: role})
}

// parts are the file parts: the index, then the files in path order.
func (r *forgedRelease) parts() []filePart {
	ps := []filePart{{layout.IndexPath(r.project), r.index}}
	for _, p := range slices.Sorted(maps.Keys(r.files)) {
		ps = append(ps, filePart{p, r.files[p]})
	}
	return ps
}

// writeRequest is a complete write request.
type writeRequest struct {
	path        string // below the server URL
	contentType string
	body        []byte
}

func (r *forgedRelease) request(t testing.TB) writeRequest {
	t.Helper()
	req, err := r.encode()
	if err != nil {
		t.Fatal(err)
	}
	return req
}

func (r *forgedRelease) encode() (writeRequest, error) {
	change, err := r.changeJSON()
	if err != nil {
		return writeRequest{}, err
	}
	return encodeWrite("/api/v1/projects/"+r.project+"/changes", change, r.parts()...), nil
}

type filePart struct {
	name string
	data []byte
}

func multipartWrite(t testing.TB, path string, change []byte, parts ...filePart) writeRequest {
	return encodeWrite(path, change, parts...)
}

// encodeWrite builds a multipart write request: the change, then the parts.
// Writes to a bytes.Buffer cannot fail.
func encodeWrite(path string, change []byte, parts ...filePart) writeRequest {
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	w, _ := mw.CreateFormField("change")
	w.Write(change)
	for _, p := range parts {
		w, _ := mw.CreateFormFile(p.name, p.name)
		w.Write(p.data)
	}
	mw.Close()
	return writeRequest{path: path, contentType: mw.FormDataContentType(), body: buf.Bytes()}
}

// sendWrite posts a write request and returns the status and the decoded
// error (if any).
func sendWrite(t testing.TB, srv *Server, r writeRequest) (int, api.Error) {
	t.Helper()
	status, e, err := postWrite(http.DefaultClient, srv.URL, r)
	if err != nil {
		t.Fatal(err)
	}
	return status, e
}

// metricValue is the value of one series of the server's /metrics (0 when
// the series is not there yet), summed over its processes when it has
// several replicas.
func metricValue(t *testing.T, srv *Server, series string) float64 {
	t.Helper()
	var sum float64
	for _, p := range srv.Processes() {
		for _, line := range strings.Split(httpGet(t, p+"/metrics", 200), "\n") {
			if v, ok := strings.CutPrefix(line, series+" "); ok {
				f, err := strconv.ParseFloat(v, 64)
				if err != nil {
					t.Fatalf("/metrics: %q: %v", line, err)
				}
				sum += f
			}
		}
	}
	return sum
}

// postWrite is sendWrite for goroutines: it reports errors.
func postWrite(hc *http.Client, base string, r writeRequest) (int, api.Error, error) {
	resp, err := hc.Post(base+r.path, r.contentType, bytes.NewReader(r.body))
	if err != nil {
		return 0, api.Error{}, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, api.Error{}, err
	}
	var er api.ErrorResponse
	if resp.StatusCode >= 300 {
		if err := json.Unmarshal(body, &er); err != nil {
			return 0, api.Error{}, fmt.Errorf("HTTP %d with a body that is not the API's error form: %q", resp.StatusCode, body)
		}
	}
	return resp.StatusCode, er.Error, nil
}

// repoSnapshot is everything a write could change, as an outsider sees it.
type repoSnapshot struct {
	Blobs    map[string]string // every served file under <data>/blobs → sha256
	Projects map[string]string // GET /api/v1/projects/<p> and its pending changes
	Versions map[string]string // verified `hallmark versions --json`
	Staging  []string          // leftover uploads
}

func captureRepoState(t testing.TB, srv *Server, verifier *User, projects ...string) repoSnapshot {
	t.Helper()
	st := repoSnapshot{Blobs: map[string]string{}, Projects: map[string]string{}, Versions: map[string]string{}}
	for p, b := range readTree(t, srv.Blobs) {
		sum := sha256.Sum256(b)
		st.Blobs[p] = hex.EncodeToString(sum[:])
	}
	get := func(path string) string {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return fmt.Sprintf("%d %s", resp.StatusCode, body)
	}
	for _, p := range projects {
		st.Projects[p] = get("/api/v1/projects/"+p) + get("/api/v1/projects/"+p+"/pending")
		st.Versions[p] = verifier.MustRun("versions", p, "--json").Stdout
	}
	entries, _ := os.ReadDir(filepath.Join(srv.Data, "staging"))
	for _, e := range entries {
		st.Staging = append(st.Staging, e.Name())
	}
	return st
}

// assertSameRepoState fails the test with the differences between two states.
func assertSameRepoState(t testing.TB, before, after repoSnapshot) {
	t.Helper()
	var diffs []string
	for p, h := range before.Blobs {
		if after.Blobs[p] != h {
			diffs = append(diffs, "changed or removed: blobs/"+p)
		}
	}
	for p := range after.Blobs {
		if _, ok := before.Blobs[p]; !ok {
			diffs = append(diffs, "added: blobs/"+p)
		}
	}
	for p, v := range before.Projects {
		if after.Projects[p] != v {
			diffs = append(diffs, fmt.Sprintf("GET /api/v1/projects/%s[/pending]: %s → %s", p, v, after.Projects[p]))
		}
		if after.Versions[p] != before.Versions[p] {
			diffs = append(diffs, fmt.Sprintf("verified versions of %s: %s → %s", p, before.Versions[p], after.Versions[p]))
		}
	}
	if len(after.Staging) != 0 {
		diffs = append(diffs, fmt.Sprintf("staging holds %v", after.Staging))
	}
	if len(diffs) > 0 {
		slices.Sort(diffs)
		t.Fatalf("a refused write changed stored state:\n  %s", strings.Join(diffs, "\n  "))
	}
}

// TestAttackUpload sends forged write requests to the HTTP API. Each is
// refused with a 4xx and a clear message, and afterwards nothing stored has
// changed: published files, the server's project view, the verified state,
// the staging directory.
func TestAttackUpload(t *testing.T) {
	const maxUpload = 256 << 10
	srv := StartServer(t, "--max-upload", fmt.Sprint(maxUpload))
	alice := NewMaintainer(t, srv, "alice")
	alice.MustRun("project", "create", "hello", "--key", "alice")
	dir := t.TempDir()
	published := []byte("hello 1.0.0, published")
	alice.MustRun("release", "upload", "hello", "1.0.0", WriteFile(t, dir, "hello-1.0.0.tar.gz", published))
	victim := NewMaintainer(t, srv, "victor")
	victim.MustRun("project", "create", "victim", "--key", "victor")
	victim.MustRun("release", "upload", "victim", "1.0.0", WriteFile(t, dir, "victim-1.0.0.tar.gz", []byte("victim 1.0.0")))
	aliceKey := loadUserKey(t, alice, "alice")
	mallory, err := signing.Generate("mallory")
	if err != nil {
		t.Fatal(err)
	}
	verifier := pinnedUser(t, srv, "hello")

	// An accepted request, sent by hand, for the replay cases below.
	accepted := nextForgedRelease(t, alice, "hello", "1.1.0", map[string][]byte{"hello-1.1.0.tar.gz": []byte("hello 1.1.0")}).sign(t, aliceKey).request(t)
	if status, e := sendWrite(t, srv, accepted); status != http.StatusOK {
		t.Fatalf("a well-formed release was refused: %d %+v", status, e)
	}
	before := captureRepoState(t, srv, verifier, "hello", "victim")
	if !strings.Contains(before.Versions["hello"], "1.1.0") {
		t.Fatalf("the accepted release is not published: %s", before.Versions["hello"])
	}

	// rel is a fresh, well-formed proposal: release 2.0.0 of hello.
	rel := func() *forgedRelease {
		return nextForgedRelease(t, alice, "hello", "2.0.0", map[string][]byte{"hello-2.0.0.tar.gz": []byte("hello 2.0.0")})
	}
	const filePath = "hello/2.0.0/hello-2.0.0.tar.gz"
	withChange := func(change string, parts ...filePart) writeRequest {
		return multipartWrite(t, "/api/v1/projects/hello/changes", []byte(change), parts...)
	}

	cases := []struct {
		name   string
		req    func() writeRequest
		status int
		want   string
	}{
		{"unsigned releases role", func() writeRequest { return rel().request(t) },
			422, "hello.releases is not signed"},
		{"signed by a key that is not a maintainer", func() writeRequest { return rel().sign(t, mallory).request(t) },
			422, "which is not one of the project's maintainers"},
		{"maintainer and stranger sign", func() writeRequest { return rel().sign(t, aliceKey, mallory).request(t) },
			422, "which is not one of the project's maintainers"},
		{"signed by the owner of another project", func() writeRequest {
			return rel().sign(t, loadUserKey(t, victim, "victor")).request(t)
		}, 422, "not one of the project's maintainers"},
		{"changed after signing", func() writeRequest {
			r := rel().sign(t, aliceKey)
			r.role.Signed.Expires = r.role.Signed.Expires.Add(-time.Hour)
			return r.request(t)
		}, 422, "does not verify; the metadata was changed after signing"},
		{"file of another project uploaded", func() writeRequest {
			r := rel().sign(t, aliceKey)
			return multipartWrite(t, "/api/v1/projects/hello/changes", r.change(t), append(r.parts(), filePart{"victim/9.0.0/victim-9.0.0.tar.gz", []byte("evil")})...)
		}, 400, "uploaded file victim/9.0.0/victim-9.0.0.tar.gz lies outside project hello"},
		{"role signs a file of another project", func() writeRequest {
			r := rel()
			r.role.Signed.Targets["victim/9.0.0/victim-9.0.0.tar.gz"] = signedTarget([]byte("evil"))
			return r.sign(t, aliceKey).request(t)
		}, 422, "target victim/9.0.0/victim-9.0.0.tar.gz lies outside project hello"},
		{"role signs the other project's index", func() writeRequest {
			r := rel()
			r.role.Signed.Targets["victim/index.json"] = signedTarget([]byte(`{"project":"victim","releases":[]}`))
			return r.sign(t, aliceKey).request(t)
		}, 422, "lies outside project hello"},
		{"dot-dot upload path", func() writeRequest {
			r := rel().sign(t, aliceKey)
			return multipartWrite(t, "/api/v1/projects/hello/changes", r.change(t), append(r.parts(), filePart{"../x", []byte("evil")})...)
		}, 400, `target path "../x" is not`},
		{"dot-dot inside the project", func() writeRequest {
			r := rel().sign(t, aliceKey)
			return multipartWrite(t, "/api/v1/projects/hello/changes", r.change(t), append(r.parts(), filePart{"hello/../../blobs/x", []byte("evil")})...)
		}, 400, "is not"},
		{"dot-dot in a signed target", func() writeRequest {
			r := rel()
			r.role.Signed.Targets["hello/2.0.0/../../victim/index.json"] = signedTarget([]byte("evil"))
			return r.sign(t, aliceKey).request(t)
		}, 422, "is not <project>/index.json or <project>/<version>/<file>"},
		{"change names another project", func() writeRequest {
			r := rel().sign(t, aliceKey)
			req := r.request(t)
			req.path = "/api/v1/projects/victim/changes"
			return req
		}, 400, `the change names project "hello" but was sent to "victim"`},
		{"role of one project sent as another's", func() writeRequest {
			r := rel()
			r.role.Signed.Version = nextForgedRelease(t, victim, "victim", "", nil).role.Signed.Version
			r.sign(t, aliceKey)
			role, _ := tufmeta.Encode(r.role)
			change, _ := json.Marshal(api.ChangeRequest{ReleasesRole: role})
			// Alice's signed role of hello, offered as victim's, with an index for victim.
			ix, _ := (&layout.Index{Project: "victim"}).Marshal()
			return multipartWrite(t, "/api/v1/projects/victim/changes", change, filePart{"victim/index.json", ix})
		}, 422, "lists no project index victim/index.json"},
		{"project path traversal", func() writeRequest {
			req := rel().sign(t, aliceKey).request(t)
			req.path = "/api/v1/projects/..%2Fvictim/changes"
			return req
		}, 400, "is not valid"},
		{"published file name re-used with other content", func() writeRequest {
			r := nextForgedRelease(t, alice, "hello", "2.0.0", map[string][]byte{"x.tar.gz": []byte("x")})
			// Replace 1.0.0's file in the role and the index.
			path := "hello/1.0.0/hello-1.0.0.tar.gz"
			evil := []byte("hello 1.0.0, backdoored")
			delete(r.role.Signed.Targets, "hello/2.0.0/x.tar.gz")
			delete(r.files, "hello/2.0.0/x.tar.gz")
			r.role.Signed.Targets[path] = signedTarget(evil)
			r.files[path] = evil
			ix, _ := layout.ParseIndex(r.index)
			ix.Releases = ix.Releases[:len(ix.Releases)-1]
			for i, rl := range ix.Releases {
				if rl.Version == "1.0.0" {
					sum := sha256.Sum256(evil)
					ix.Releases[i].Files = []layout.FileEntry{{Name: "hello-1.0.0.tar.gz", SHA256: hex.EncodeToString(sum[:]), Length: int64(len(evil))}}
				}
			}
			r.setIndex(t, ix)
			return r.sign(t, aliceKey).request(t)
		}, 422, "file hello/1.0.0/hello-1.0.0.tar.gz was published before with other content"},
		{"same version as published", func() writeRequest {
			r := rel()
			r.role.Signed.Version--
			return r.sign(t, aliceKey).request(t)
		}, 409, "does not follow the published version"},
		{"version skips ahead", func() writeRequest {
			r := rel()
			r.role.Signed.Version++
			return r.sign(t, aliceKey).request(t)
		}, 409, "does not follow the published version"},
		{"accepted request replayed", func() writeRequest { return accepted }, 409, "does not follow the published version"},
		{"uploaded bytes differ from the signed hash", func() writeRequest {
			r := rel().sign(t, aliceKey)
			r.files[filePath] = []byte("HELLO 2.0.0") // same length
			return r.request(t)
		}, 422, "uploaded file " + filePath + " does not match the signed metadata"},
		{"uploaded bytes longer than signed", func() writeRequest {
			r := rel().sign(t, aliceKey)
			r.files[filePath] = []byte("hello 2.0.0 with a payload")
			return r.request(t)
		}, 422, "does not match the signed metadata"},
		{"signed file not uploaded", func() writeRequest {
			r := rel().sign(t, aliceKey)
			delete(r.files, filePath)
			return r.request(t)
		}, 422, "file " + filePath + " is signed but was not uploaded"},
		{"file uploaded twice", func() writeRequest {
			r := rel().sign(t, aliceKey)
			return multipartWrite(t, "/api/v1/projects/hello/changes", r.change(t), append(r.parts(), filePart{filePath, []byte("hello 2.0.0")})...)
		}, 400, "is uploaded twice"},
		{"index disagrees with the role", func() writeRequest {
			r := rel()
			ix, _ := layout.ParseIndex(r.index)
			ix.Releases[len(ix.Releases)-1].Files[0].Length++
			r.setIndex(t, ix)
			return r.sign(t, aliceKey).request(t)
		}, 422, "the index and the role disagree"},
		{"index not uploaded", func() writeRequest {
			r := rel().sign(t, aliceKey)
			return multipartWrite(t, "/api/v1/projects/hello/changes", r.change(t), r.parts()[1:]...)
		}, 422, "the project index hello/index.json was not uploaded"},
		{"expiry beyond policy", func() writeRequest {
			r := rel()
			r.role.Signed.Expires = time.Now().AddDate(10, 0, 0).UTC().Truncate(time.Second)
			return r.sign(t, aliceKey).request(t)
		}, 422, "the policy allows at most"},
		{"malformed change JSON", func() writeRequest { return withChange(`{"project": "hello", "releases_role": `) },
			400, "the change is not valid JSON"},
		{"unknown field in the change", func() writeRequest { return withChange(`{"project": "hello", "evil": true}`) },
			400, "unknown field"},
		{"releases role is not metadata", func() writeRequest { return withChange(`{"project": "hello", "releases_role": "garbage"}`) },
			400, "releases_role"},
		{"releases role with trailing data", func() writeRequest {
			r := rel().sign(t, aliceKey)
			role, _ := tufmeta.Encode(r.role)
			change := `{"project":"hello","releases_role":` + string(role) + `}{"x":1}`
			return multipartWrite(t, "/api/v1/projects/hello/changes", []byte(change), r.parts()...)
		}, 400, "it has data after its JSON object"},
		{"change proposes no role", func() writeRequest { return withChange(`{"project": "hello"}`) },
			422, "the change proposes no role"},
		{"owners outside project creation", func() writeRequest {
			return withChange(`{"project": "hello", "owners": {"keys": {}, "keyids": [], "threshold": 1}}`)
		}, 400, `"owners" is only for creating a project`},
		{"not multipart", func() writeRequest {
			return writeRequest{path: "/api/v1/projects/hello/changes", contentType: "application/json", body: []byte(`{}`)}
		}, 415, "must be multipart/form-data"},
		{"no change part", func() writeRequest {
			return writeRequest{path: "/api/v1/projects/hello/changes", contentType: "multipart/form-data; boundary=x", body: []byte("--x--\r\n")}
		}, 400, `no "change" part`},
		{"file before the change", func() writeRequest {
			var buf bytes.Buffer
			mw := multipart.NewWriter(&buf)
			w, _ := mw.CreateFormFile(filePath, filePath)
			w.Write([]byte("x"))
			w, _ = mw.CreateFormField("change")
			w.Write([]byte(`{}`))
			mw.Close()
			return writeRequest{path: "/api/v1/projects/hello/changes", contentType: mw.FormDataContentType(), body: buf.Bytes()}
		}, 400, `the first part must be "change"`},
		{"truncated multipart body", func() writeRequest {
			req := rel().sign(t, aliceKey).request(t)
			req.body = req.body[:len(req.body)-10]
			return req
		}, 400, "failed to receive upload"},
		{"body over --max-upload", func() writeRequest {
			big := bytes.Repeat([]byte("A"), 4*maxUpload)
			r := nextForgedRelease(t, alice, "hello", "2.0.0", map[string][]byte{"big.tar.gz": big})
			return r.sign(t, aliceKey).request(t)
		}, 413, fmt.Sprintf("the request is larger than the server's limit of %d bytes", maxUpload)},
		{"create a project that exists", func() writeRequest { return forgedCreate(t, "Victim", mallory, mallory, true) },
			409, "project victim exists already"},
		{"create with a reserved name", func() writeRequest { return forgedCreate(t, "snapshot", mallory, mallory, false) },
			400, "is reserved"},
		{"create with a path-like name", func() writeRequest { return forgedCreate(t, "../victim", mallory, mallory, false) },
			400, "is not valid"},
		{"create with a path-like index upload", func() writeRequest { return forgedCreate(t, "../victim", mallory, mallory, true) },
			400, "is not a normalized project name"},
		{"create without proof of the owner key", func() writeRequest {
			return forgedCreate(t, "squat", loadUserKey(t, victim, "victor"), mallory, true)
		}, 422, "not one of the project's owners"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.status == http.StatusRequestEntityTooLarge {
				// The server answers 413 from the head and closes the
				// connection while this client, which does not wait for
				// "100 Continue", is still sending; on a loaded machine the
				// connection's reset can then reach the client before the
				// answer it has not read yet. That is still a refusal, but
				// only if the server did answer 413: its metrics say so.
				const series = `hallmark_http_requests_total{code="413",route="POST /api/v1/projects/{project}/changes"}`
				before413 := metricValue(t, srv, series)
				status, e, err := postWrite(http.DefaultClient, srv.URL, tc.req())
				if err != nil {
					if !errors.Is(err, syscall.ECONNRESET) && !errors.Is(err, syscall.EPIPE) {
						t.Fatal(err)
					}
					if got := metricValue(t, srv, series); got != before413+1 {
						t.Fatalf("the upload failed with %v, and the server answered 413 %v times (before: %v)", err, got, before413)
					}
					t.Logf("the connection was reset after the server answered 413: %v", err)
				} else if status != tc.status || !strings.Contains(e.Message, tc.want) {
					t.Errorf("got HTTP %d %q (%s); want %d with %q", status, e.Message, e.Code, tc.status, tc.want)
				}
				assertSameRepoState(t, before, captureRepoState(t, srv, verifier, "hello", "victim"))
				return
			}
			status, e := sendWrite(t, srv, tc.req())
			t.Logf("HTTP %d %s: %s", status, e.Code, e.Message)
			if status != tc.status || !strings.Contains(e.Message, tc.want) {
				t.Errorf("got HTTP %d %q (%s); want %d with %q", status, e.Message, e.Code, tc.status, tc.want)
			}
			if status < 400 || status >= 500 {
				t.Errorf("HTTP %d is not a client error", status)
			}
			if e.Code == "" || e.Message == "" {
				t.Errorf("the error has no code or message: %+v", e)
			}
			assertSameRepoState(t, before, captureRepoState(t, srv, verifier, "hello", "victim"))
		})
	}

	// The CLI says the same in plain words.
	t.Run("cli upload over --max-upload", func(t *testing.T) {
		big := WriteFile(t, dir, "hello-3.0.0.tar.gz", bytes.Repeat([]byte("B"), 2*maxUpload))
		alice.MustFail("larger than the server's limit", "release", "upload", "hello", "3.0.0", big)
		assertSameRepoState(t, before, captureRepoState(t, srv, verifier, "hello", "victim"))
	})

	// After all that, a well-formed release is still accepted.
	alice.MustRun("release", "upload", "hello", "2.0.0", WriteFile(t, dir, "hello-2.0.0.tar.gz", []byte("hello 2.0.0")))
	if got := verifier.MustRun("versions", "hello").Stdout; got != "2.0.0\n1.1.0\n1.0.0\n" {
		t.Fatalf("versions = %q", got)
	}
}

// forgedCreate is a project creation naming owner as the owner key, with
// both roles signed by signer (proof of possession when signer == owner).
func forgedCreate(t testing.TB, name string, owner, signer *signing.Key, withIndex bool) writeRequest {
	t.Helper()
	project := layout.Normalize(name)
	now := time.Now()
	pol := layout.DefaultPolicy()
	owners := tufmeta.NewDelegation([]signing.PublicKey{owner.Public()}, 1)
	ownersRole := metadata.Targets(pol.ExpiresAt(layout.OwnersRole(project), now))
	ownersRole.Signed.Delegations = &metadata.Delegations{Keys: maps.Clone(owners.Keys), Roles: []metadata.DelegatedRole{{
		Name: layout.ReleasesRole(project), KeyIDs: owners.KeyIDs, Threshold: 1, Terminating: true, Paths: layout.DelegationPaths(project),
	}}}
	ix, err := (&layout.Index{Project: project}).Marshal()
	if err != nil {
		t.Fatal(err)
	}
	releases := metadata.Targets(pol.ExpiresAt(layout.ReleasesRole(project), now))
	releases.Signed.Targets[layout.IndexPath(project)] = signedTarget(ix)
	if err := tufmeta.Sign(ownersRole, signer); err != nil {
		t.Fatal(err)
	}
	if err := tufmeta.Sign(releases, signer); err != nil {
		t.Fatal(err)
	}
	oj, _ := tufmeta.Encode(ownersRole)
	rj, _ := tufmeta.Encode(releases)
	change, err := json.Marshal(api.ChangeRequest{
		Project: name, Owners: &api.Owners{Keys: owners.Keys, KeyIDs: owners.KeyIDs, Threshold: 1},
		OwnersRole: oj, ReleasesRole: rj,
	})
	if err != nil {
		t.Fatal(err)
	}
	if !withIndex {
		return multipartWrite(t, "/api/v1/projects", change)
	}
	return multipartWrite(t, "/api/v1/projects", change, filePart{layout.IndexPath(project), ix})
}

// TestAttackUploadReusesRemovedFileName: a file removed from a release is
// never re-published under its name with other content (tombstones).
func TestAttackUploadReusesRemovedFileName(t *testing.T) {
	srv := StartServer(t)
	alice := NewMaintainer(t, srv, "alice")
	alice.MustRun("project", "create", "hello", "--key", "alice")
	dir := t.TempDir()
	alice.MustRun("release", "upload", "hello", "1.0.0", WriteFile(t, dir, "hello-1.0.0.tar.gz", []byte("hello 1.0.0")), WriteFile(t, dir, "hello-1.0.0.zip", []byte("hello 1.0.0 zip")))
	key := loadUserKey(t, alice, "alice")

	// Remove the zip: a well-formed, signed change the server accepts.
	r := nextForgedRelease(t, alice, "hello", "", nil)
	ix, _ := layout.ParseIndex(r.index)
	rel, _ := ix.Release("1.0.0")
	rel.Files = slices.DeleteFunc(rel.Files, func(f layout.FileEntry) bool { return f.Name == "hello-1.0.0.zip" })
	if len(rel.Files) != 1 {
		t.Fatalf("unexpected index %+v", ix)
	}
	delete(r.role.Signed.Targets, "hello/1.0.0/hello-1.0.0.zip")
	r.setIndex(t, ix)
	if status, e := sendWrite(t, srv, r.sign(t, key).request(t)); status != http.StatusOK {
		t.Fatalf("removing a file was refused: %d %+v", status, e)
	}
	verifier := pinnedUser(t, srv, "hello")
	before := captureRepoState(t, srv, verifier, "hello")

	// Put it back with other bytes.
	r = nextForgedRelease(t, alice, "hello", "", nil)
	ix, _ = layout.ParseIndex(r.index)
	rel, _ = ix.Release("1.0.0")
	evil := []byte("hello 1.0.0 zip, backdoored")
	sum := sha256.Sum256(evil)
	rel.Files = append(rel.Files, layout.FileEntry{Name: "hello-1.0.0.zip", SHA256: hex.EncodeToString(sum[:]), Length: int64(len(evil))})
	r.role.Signed.Targets["hello/1.0.0/hello-1.0.0.zip"] = signedTarget(evil)
	r.files["hello/1.0.0/hello-1.0.0.zip"] = evil
	r.setIndex(t, ix)
	status, e := sendWrite(t, srv, r.sign(t, key).request(t))
	if status != 422 || !strings.Contains(e.Message, "file hello/1.0.0/hello-1.0.0.zip was published before with other content") {
		t.Fatalf("re-using a removed name: HTTP %d %+v", status, e)
	}
	assertSameRepoState(t, before, captureRepoState(t, srv, verifier, "hello"))
}
