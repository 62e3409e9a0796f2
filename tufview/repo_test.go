package tufview_test

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
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/theupdateframework/go-tuf/v2/metadata"

	"hallmark.dev/hallmark/tufview"
)

var expires = time.Now().Add(90 * 24 * time.Hour).UTC().Truncate(time.Second)

// signer is a go-tuf signing key with its TUF public key.
type signer struct {
	s   signature.Signer
	key *metadata.Key
	id  string
}

func newEd25519(t *testing.T) signer {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	s, err := signature.LoadED25519Signer(priv)
	if err != nil {
		t.Fatal(err)
	}
	return mkSigner(t, s, pub)
}

func newECDSA(t *testing.T) signer {
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	s, err := signature.LoadECDSASigner(priv, crypto.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	return mkSigner(t, s, priv.Public())
}

func mkSigner(t *testing.T, s signature.Signer, pub crypto.PublicKey) signer {
	k, err := metadata.KeyFromPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	id, err := k.ID()
	if err != nil {
		t.Fatal(err)
	}
	return signer{s: s, key: k, id: id}
}

func sign[T metadata.Roles](t *testing.T, md *metadata.Metadata[T], keys ...signer) []byte {
	t.Helper()
	for _, k := range keys {
		if _, err := md.Sign(k.s); err != nil {
			t.Fatal(err)
		}
	}
	b, err := md.ToBytes(false)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// goTUFRepo writes, with go-tuf's metadata API, a consistent-snapshot
// repository: root, targets (versions 1 and 2) delegating to "a" and to
// "b" (two keys, threshold 2), "b" delegating further to "c" (an ECDSA
// key), snapshot (ECDSA) and timestamp.
func goTUFRepo(t *testing.T, dir string) {
	t.Helper()
	rootK, tsK, snapK, targK := newEd25519(t), newEd25519(t), newECDSA(t), newEd25519(t)
	aK, b1K, b2K, cK := newEd25519(t), newEd25519(t), newEd25519(t), newECDSA(t)
	write := func(name string, b []byte) {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	root := metadata.Root(expires)
	root.Signed.ConsistentSnapshot = true
	for role, k := range map[string]signer{"root": rootK, "timestamp": tsK, "snapshot": snapK, "targets": targK} {
		if err := root.Signed.AddKey(k.key, role); err != nil {
			t.Fatal(err)
		}
	}
	write("1.root.json", sign(t, root, rootK))

	c := metadata.Targets(expires)
	c.Signed.Targets["b/c/file.txt"] = target("c's file")
	write("1.c.json", sign(t, c, cK))

	b := metadata.Targets(expires)
	b.Signed.Targets["b/readme.txt"] = target("b's readme")
	b.Signed.Delegations = &metadata.Delegations{Keys: map[string]*metadata.Key{cK.id: cK.key},
		Roles: []metadata.DelegatedRole{{Name: "c", KeyIDs: []string{cK.id}, Threshold: 1, Terminating: true, Paths: []string{"b/c/*"}}}}
	write("1.b.json", sign(t, b, b1K, b2K))

	a := metadata.Targets(expires)
	a.Signed.Targets["a/app.tar.gz"] = target("an app")
	write("1.a.json", sign(t, a, aK))

	targets := metadata.Targets(expires)
	write("1.targets.json", sign(t, targets, targK))
	targets.Signed.Version = 2
	targets.Signed.Delegations = &metadata.Delegations{
		Keys: map[string]*metadata.Key{aK.id: aK.key, b1K.id: b1K.key, b2K.id: b2K.key},
		Roles: []metadata.DelegatedRole{
			{Name: "a", KeyIDs: []string{aK.id}, Threshold: 1, Paths: []string{"a/*"}},
			{Name: "b", KeyIDs: []string{b1K.id, b2K.id}, Threshold: 2, Paths: []string{"b/*"}},
		}}
	targets.Signatures = nil
	write("2.targets.json", sign(t, targets, targK))

	snap := metadata.Snapshot(expires)
	snap.Signed.Meta["targets.json"] = metadata.MetaFile(2)
	for _, r := range []string{"a", "b", "c"} {
		snap.Signed.Meta[r+".json"] = metadata.MetaFile(1)
	}
	snapBytes := sign(t, snap, snapK)
	write("1.snapshot.json", snapBytes)

	ts := metadata.Timestamp(expires)
	sum := sha256.Sum256(snapBytes)
	ts.Signed.Meta["snapshot.json"] = &metadata.MetaFiles{Version: 1, Length: int64(len(snapBytes)), Hashes: metadata.Hashes{"sha256": sum[:]}}
	write("timestamp.json", sign(t, ts, tsK))
}

func target(content string) *metadata.TargetFiles {
	sum := sha256.Sum256([]byte(content))
	return &metadata.TargetFiles{Length: int64(len(content)), Hashes: metadata.Hashes{"sha256": sum[:]}}
}

// tamper flips a bit of the first signature in a metadata file.
func tamper(t *testing.T, path string) {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	sig := m["signatures"].([]any)[0].(map[string]any)
	s := sig["sig"].(string)
	flip := "0"
	if s[10] == '0' {
		flip = "1"
	}
	sig["sig"] = s[:10] + flip + s[11:]
	out, _ := json.Marshal(m)
	if err := os.WriteFile(path, out, 0o644); err != nil {
		t.Fatal(err)
	}
}

func load(t *testing.T, src tufview.Source) *tufview.Repo {
	t.Helper()
	files, problems, err := tufview.Load(context.Background(), src, nil)
	if err != nil {
		t.Fatal(err)
	}
	return tufview.Build(src.String(), files, problems)
}

func TestBuildVerifiesEveryRoleOfAGoTUFRepository(t *testing.T) {
	dir := t.TempDir()
	goTUFRepo(t, dir)
	r := load(t, tufview.Dir(dir))
	if got := strings.Join(r.Roles(), " "); got != "root timestamp snapshot targets a b c" {
		t.Errorf("Roles() = %s", got)
	}
	for _, role := range r.Roles() {
		if !r.Verified(role) {
			v, _ := r.RoleView(role, tufview.Options{})
			t.Errorf("%s does not verify: %+v", role, v.Checks)
		}
	}
	ix := r.Index(tufview.Options{})
	if ix.Verified != 7 || len(ix.Failed) != 0 || len(ix.Problems) != 0 {
		t.Errorf("index: verified %d, failed %v, problems %v", ix.Verified, ix.Failed, ix.Problems)
	}
	// The highest version of targets was picked, and the tree follows its
	// delegations: targets → a, b; b → c.
	tv, _ := r.RoleView("targets", tufview.Options{})
	if tv.Version != 2 || len(tv.Delegations) != 2 {
		t.Errorf("targets: version %d, %d delegations", tv.Version, len(tv.Delegations))
	}
	cv, _ := r.RoleView("c", tufview.Options{})
	if path := fmt.Sprint(cv.Path); path != "[{root } {targets } {b }]" {
		t.Errorf("path of c = %s", path)
	}
	bv, _ := r.RoleView("b", tufview.Options{})
	if len(bv.Checks) != 1 || bv.Checks[0].Valid != 2 || bv.Checks[0].Threshold != 2 {
		t.Errorf("b's check = %+v", bv.Checks)
	}
}

// The same repository read over HTTP, walking from the root as a client
// does, gives the same result.
func TestLoadOverHTTPWalksLikeAClient(t *testing.T) {
	dir := t.TempDir()
	goTUFRepo(t, dir)
	srv := newFileServer(t, dir)
	r := load(t, tufview.URL{Base: srv + "/"})
	if got := strings.Join(r.Roles(), " "); got != "root timestamp snapshot targets a b c" {
		t.Errorf("Roles() = %s", got)
	}
	if ix := r.Index(tufview.Options{}); ix.Verified != 7 {
		t.Errorf("verified %d of 7 over HTTP: %v", ix.Verified, ix.Problems)
	}
}

// Attack: a signature changed after signing must show as failing, for an
// ed25519 key and for an ECDSA key (checked through go-tuf).
func TestTamperedSignaturesFail(t *testing.T) {
	for _, role := range []string{"a", "c", "snapshot"} {
		t.Run(role, func(t *testing.T) {
			dir := t.TempDir()
			goTUFRepo(t, dir)
			name := "1." + role + ".json"
			tamper(t, filepath.Join(dir, name))
			r := load(t, tufview.Dir(dir))
			if r.Verified(role) {
				t.Fatalf("%s verified with a tampered signature", role)
			}
			v, _ := r.RoleView(role, tufview.Options{})
			if v.Status != "signature check failed" || len(v.Checks) != 1 || v.Checks[0].Sigs[0].Status != "invalid" {
				t.Errorf("view of tampered %s: status %q, checks %+v", role, v.Status, v.Checks)
			}
			for _, other := range []string{"root", "targets", "b"} {
				if !r.Verified(other) {
					t.Errorf("%s no longer verifies after tampering with %s", other, role)
				}
			}
		})
	}
}
