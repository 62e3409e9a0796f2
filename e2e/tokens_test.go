package e2e

// Hardware token keys end to end, on SoftHSM2 soft tokens driven through
// PKCS#11 exactly as a YubiKey would be (issue 14): a production ceremony
// with a 2-of-3 root on three tokens, a claim and a block signed on tokens,
// a maintainer who uploads and approves with a token key, and downloads
// verified by hallmark get, go-tuf and tuf-js.

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/theupdateframework/go-tuf/v2/metadata"

	"hallmark.dev/hallmark/layout"
	"hallmark.dev/hallmark/server"
)

// softHSMModule is where Debian's softhsm2 package installs its PKCS#11
// module.
const softHSMModule = "/usr/lib/softhsm/libsofthsm2.so"

// tokenPIN is the user PIN of every soft token these tests create.
const tokenPIN = "246810"

// softHSM is one test's SoftHSM2 token directory.
type softHSM struct {
	t    testing.TB
	conf string
}

// needSoftHSM returns a new, empty SoftHSM2 token directory, skipping (or
// failing under HALLMARK_TEST_ALL=1) when softhsm2 or opensc's pkcs11-tool
// is not installed.
func needSoftHSM(t testing.TB) *softHSM {
	t.Helper()
	_, errModule := os.Stat(softHSMModule)
	_, errUtil := exec.LookPath("softhsm2-util")
	needTool(t, "softhsm2 ("+softHSMModule+" and softhsm2-util)", "install it: apt-get install softhsm2", errModule == nil && errUtil == nil)
	_, errTool := exec.LookPath("pkcs11-tool")
	needTool(t, "pkcs11-tool", "install it: apt-get install opensc", errTool == nil)
	dir := t.TempDir()
	tokens := filepath.Join(dir, "tokens")
	if err := os.MkdirAll(tokens, 0o700); err != nil {
		t.Fatal(err)
	}
	conf := WriteFile(t, dir, "softhsm2.conf", []byte("directories.tokendir = "+tokens+"\nobjectstore.backend = file\nlog.level = ERROR\n"))
	return &softHSM{t: t, conf: conf}
}

// run runs a SoftHSM or OpenSC tool against this token directory.
func (h *softHSM) run(name string, args ...string) string {
	h.t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), "SOFTHSM2_CONF="+h.conf)
	out, err := cmd.CombinedOutput()
	if err != nil {
		h.t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// token initializes a new soft token with PIN tokenPIN and creates a key
// pair on it for each of keys ("label=EC:prime256v1", "label=EC:edwards25519";
// a ",always-auth" suffix makes a key that needs the PIN for every
// signature, as a YubiKey's PIV slot 9c does).
func (h *softHSM) token(label string, keys ...string) {
	h.t.Helper()
	h.run("softhsm2-util", "--init-token", "--free", "--label", label, "--pin", tokenPIN, "--so-pin", "13579111")
	for i, k := range keys {
		name, typ, _ := strings.Cut(k, "=")
		typ, always := strings.CutSuffix(typ, ",always-auth")
		args := []string{"--module", softHSMModule, "--token-label", label, "--login", "--pin", tokenPIN,
			"--keypairgen", "--key-type", typ, "--label", name, "--id", fmt.Sprintf("%02x", i+1)}
		if always {
			args = append(args, "--always-auth")
		}
		h.run("pkcs11-tool", args...)
	}
}

// use makes u reach this token directory, with the tokens' PIN in HALLMARK_PIN.
func (h *softHSM) use(u *User) *User {
	u.Env = append(u.Env, "SOFTHSM2_CONF="+h.conf, "HALLMARK_PIN="+tokenPIN)
	return u
}

// addToken registers the key object of token as u's key name, and returns
// its public key line.
func addToken(t testing.TB, u *User, name, token, object string) string {
	t.Helper()
	r := u.MustRun("key", "add-token", name, "--uri", "pkcs11:token="+token+";object="+object, "--module", softHSMModule, "--label", name+" on "+token)
	admSays(t, "key add-token", r.Stderr, "registered token key "+name)
	return strings.TrimSpace(u.MustRun("key", "export", name).Stdout)
}

func TestTokenKeysCeremonyClaimBlockAndReleases(t *testing.T) {
	h := needSoftHSM(t)
	h.token("admin-1", "root=EC:prime256v1", "targets=EC:prime256v1", "claim=EC:edwards25519")
	h.token("admin-2", "root=EC:prime256v1")
	h.token("admin-3", "root=EC:prime256v1")
	h.token("bob", "release=EC:prime256v1,always-auth")

	srv := admNewServer(t)
	a1, a2, a3 := h.use(NewUser(t, srv)), h.use(NewUser(t, srv)), h.use(NewUser(t, srv))
	addToken(t, a1, "root", "admin-1", "root")
	addToken(t, a1, "targets", "admin-1", "targets")
	claimPub := addToken(t, a1, "claim", "admin-1", "claim")
	pub2 := addToken(t, a2, "root", "admin-2", "root")
	pub3 := addToken(t, a3, "root", "admin-3", "root")
	if !strings.HasPrefix(pub2, "hallmark-ecdsa-p256:") || !strings.HasPrefix(claimPub, "hallmark-ed25519:") {
		t.Fatalf("token public keys: root %q, claim %q", pub2, claimPub)
	}
	list := a1.MustRun("key", "list").Stdout
	admSays(t, "key list", list, "root\t", "\ttoken\t")

	// Bad input is refused and registers nothing.
	a1.MustFail("must start with \"pkcs11:\"", "key", "add-token", "x", "--uri", "token=admin-1;object=root", "--module", softHSMModule)
	a1.MustFail("carries the PIN", "key", "add-token", "x", "--uri", "pkcs11:token=admin-1;object=root?pin-value="+tokenPIN, "--module", softHSMModule)
	a1.MustFail("no private key matching", "key", "add-token", "x", "--uri", "pkcs11:token=admin-1;object=nope", "--module", softHSMModule)
	a1.MustFail("no present token matches", "key", "add-token", "x", "--uri", "pkcs11:token=nobody;object=root", "--module", softHSMModule)
	a1.MustFail("which PKCS#11 module", "key", "add-token", "x", "--uri", "pkcs11:token=admin-1;object=root")
	a1.MustFail("a key named root exists already", "key", "add-token", "root", "--uri", "pkcs11:token=admin-1;object=root", "--module", softHSMModule)
	wrong := *a1
	wrong.Env = append(append([]string{}, a1.Env...), "HALLMARK_PIN=000000")
	wrong.MustFail("the token refused the PIN", "key", "add-token", "x", "--uri", "pkcs11:token=admin-1;object=root", "--module", softHSMModule)
	if _, err := os.Stat(filepath.Join(a1.Home, "keys", "x.key")); err == nil {
		t.Fatal("a refused add-token registered a key")
	}

	// The ceremony: admin 1's root, targets and claim keys are on its token;
	// admins 2 and 3 hold the other root keys on theirs (2 of 3).
	online := filepath.Join(t.TempDir(), "online-keys.json")
	a1.MustRun("admin", "prepare", "--data", srv.Data, "--shards", "16", "-o", online)
	bundle := filepath.Join(t.TempDir(), "init.json")
	r := a1.MustRun("admin", "init", "--online-keys", online, "--root-key", "root", "--root-pubkey", pub2, "--root-pubkey", pub3,
		"--targets-key", "targets", "--claim-key", "claim", "-o", bundle)
	admSays(t, "admin init", r.Stderr, "root: 1 of 2 signatures (every shard)", "saved to "+bundle)
	fp := admMatch(t, admInitFingerprint, r.Stderr)
	r = a3.MustRun("admin", "sign", bundle, "--key", "root", "--yes")
	admSays(t, "admin sign", r.Stderr, "added 16 signature(s)", "complete: start the server")
	admServe(srv, bundle)
	a1.MustRun("trust", srv.URL, "--fingerprint", fp)
	roots := admInitialRoots(t, srv)

	// Bob's release key is on his token; carol's is a key file.
	bob := h.use(NewUser(t, srv))
	bob.MustRun("trust", srv.URL, "--fingerprint", fp)
	addToken(t, bob, "bob", "bob", "release")
	carol := NewMaintainer(t, srv, "carol")
	dir := t.TempDir()
	demo1 := []byte("demo 1.0.0, signed on bob's token\n")
	bob.MustRun("project", "create", "demo", "--key", "bob")
	bob.MustRun("release", "upload", "demo", "1.0.0", WriteFile(t, dir, "demo-1.0.0.tar.gz", demo1), "--key", "bob")
	carolPub := strings.TrimSpace(carol.MustRun("key", "export", "carol").Stdout)
	bob.MustRun("maintainer", "add", "demo", carolPub, "--key", "bob", "--yes")
	// Raising the threshold is re-signed under the new rule: carol co-signs.
	r = bob.MustRun("project", "threshold", "demo", "--releases", "2", "--key", "bob", "--yes")
	carol.MustRun("approve", "demo", govPendingID(t, r, "demo"), "--key", "carol", "--yes")
	// Carol proposes 1.1.0; bob approves it on his token.
	demo2 := []byte("demo 1.1.0, approved on bob's token\n")
	r = carol.MustRun("release", "upload", "demo", "1.1.0", WriteFile(t, dir, "demo-1.1.0.tar.gz", demo2), "--key", "carol")
	id := govPendingID(t, r, "demo")
	wrongBob := *bob
	wrongBob.Env = append(append([]string{}, bob.Env...), "HALLMARK_PIN=111111")
	wrongBob.MustFail("the token refused the PIN", "approve", "demo", id, "--key", "bob", "--yes")
	r = bob.MustRun("approve", "demo", id, "--key", "bob", "--yes")
	admSays(t, "approve on a token", r.Stderr, "published")
	other1 := []byte("other 1.0.0\n")
	carol.MustRun("project", "create", "other", "--key", "carol")
	carol.MustRun("release", "upload", "other", "1.0.0", WriteFile(t, dir, "other-1.0.0.tar.gz", other1), "--key", "carol")

	// The claim and the block are signed with the claim key on admin 1's token.
	r = a1.MustRun("admin", "claim", "demo", "--key", "claim", "--yes")
	admSays(t, "admin claim", r.Stderr, "  - claim demo: owners bob on bob", "published in 1 shard(s)")
	r = a1.MustRun("admin", "block", "other", "--reason", "typosquat", "--key", "claim", "--yes")
	admSays(t, "admin block", r.Stderr, "  - block other: typosquat", "published in 1 shard(s)")

	// Downloads verify: hallmark get, go-tuf and tuf-js from the version-1 roots.
	dl := admPin(t, srv, fp)
	admMustGet(t, dl, "demo@1.1.0", "demo-1.1.0.tar.gz", demo2)
	admMustGet(t, dl, "demo@1.0.0", "demo-1.0.0.tar.gz", demo1)
	admSays(t, "project show", dl.MustRun("project", "show", "demo").Stdout, "claimed: only its owners and the repository's offline keys")
	dl.MustFail("the project is blocked", "get", "other", "-o", t.TempDir())

	shard := layout.ShardOf("demo", admShards)
	gt := newGoTUF(t, srv, shard, roots[shard])
	up := gt.refresh()
	for version, want := range map[string][]byte{"1.0.0": demo1, "1.1.0": demo2} {
		if got := gt.download(up, layout.FilePath("demo", version, "demo-"+version+".tar.gz")); !bytes.Equal(got, want) {
			t.Fatalf("go-tuf downloaded other bytes of demo %s", version)
		}
	}
	// What go-tuf trusted is signed by the token keys: ECDSA root and
	// targets keys, the ed25519 claim key.
	tm := up.GetTrustedMetadataSet()
	for _, id := range tm.Root.Signed.Roles[metadata.ROOT].KeyIDs {
		if k := tm.Root.Signed.Keys[id]; k.Type != metadata.KeyTypeECDSA_SHA2_P256 || k.Scheme != metadata.KeySchemeECDSA_SHA2_P256 {
			t.Fatalf("root key %s is %s/%s; want ecdsa/ecdsa-sha2-nistp256", id, k.Type, k.Scheme)
		}
	}
	if len(tm.Root.Signatures) != 2 {
		t.Fatalf("root carries %d signatures; want the 2 token signatures", len(tm.Root.Signatures))
	}
	if ds := tm.Targets[metadata.TARGETS].Signed.Delegations; ds == nil || ds.Keys[ds.Roles[0].KeyIDs[0]].Type != metadata.KeyTypeEd25519 {
		t.Fatal("targets does not delegate the claimed bin to the ed25519 claim key")
	}

	node, jsDir := needNodeProject(t, "tufjs")
	js := newTufJS(t, node, jsDir, srv, shard, roots[shard])
	if got := js.mustGet(layout.FilePath("demo", "1.1.0", "demo-1.1.0.tar.gz"), t.TempDir()); !bytes.Equal(got, demo2) {
		t.Fatal("tuf-js downloaded other bytes of demo 1.1.0")
	}

	// A token whose key was replaced (same label, another key) is refused:
	// the registration pins the public key.
	for _, typ := range []string{"privkey", "pubkey"} {
		h.run("pkcs11-tool", "--module", softHSMModule, "--token-label", "bob", "--login", "--pin", tokenPIN,
			"--delete-object", "--type", typ, "--label", "release")
	}
	h.run("pkcs11-tool", "--module", softHSMModule, "--token-label", "bob", "--login", "--pin", tokenPIN,
		"--keypairgen", "--key-type", "EC:prime256v1", "--label", "release", "--id", "01")
	bob.MustFail("not the registered key", "release", "upload", "demo", "1.2.0", WriteFile(t, dir, "demo-1.2.0.tar.gz", []byte("x")), "--key", "bob")
}

// TestOnlineKeysOnAToken: the server's online keys (every shard's
// timestamp, snapshot and new-projects keys) are generated on a token by
// `admin prepare --online-token`, and the server signs with them there; an
// online key rotation moves them to a derived secret and back to a token,
// while downloaders who pinned at the start follow.
func TestOnlineKeysOnAToken(t *testing.T) {
	h := needSoftHSM(t)
	h.token("online")
	srv := admNewServer(t)
	a := h.use(NewUser(t, srv))
	keys := filepath.Join(a.Home, "offline-keys")
	uri := "pkcs11:token=online"

	online := filepath.Join(t.TempDir(), "online-keys.json")
	a.MustFail("names a key", "admin", "prepare", "--data", srv.Data, "--shards", "16", "-o", online, "--online-token", "pkcs11:token=online;object=x", "--module", softHSMModule)
	a.MustFail("--module needs --online-token", "admin", "prepare", "--data", srv.Data, "--shards", "16", "-o", online, "--module", softHSMModule)
	a.MustRun("admin", "prepare", "--data", srv.Data, "--shards", "16", "-o", online, "--online-token", uri, "--module", softHSMModule)
	exported, err := os.ReadFile(online)
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(exported), "hallmark-ecdsa-p256:"); n != 3*admShards {
		t.Fatalf("the exported online keys hold %d ECDSA keys; want %d", n, 3*admShards)
	}
	if _, err := os.Stat(filepath.Join(srv.Data, "online.secret")); err == nil {
		t.Fatal("prepare --online-token created an online secret")
	}
	// Preparing again finds the same keys on the token.
	again := filepath.Join(t.TempDir(), "again.json")
	a.MustRun("admin", "prepare", "--data", srv.Data, "--shards", "16", "-o", again, "--online-token", uri, "--module", softHSMModule)
	if b, _ := os.ReadFile(again); !bytes.Equal(b, exported) {
		t.Fatal("preparing again exported other online keys")
	}
	a.MustFail("was prepared with online keys on a token", "admin", "prepare", "--data", srv.Data, "--shards", "16", "-o", again)

	bundle := filepath.Join(t.TempDir(), "init.json")
	fp := admMatch(t, admInitFingerprint, a.MustRun("admin", "init", "--keys", keys, "--online-keys", online, "-o", bundle).Stderr)
	// Without the PIN the server does not start, and says why.
	srv.Env = []string{"SOFTHSM2_CONF=" + h.conf}
	admSays(t, "serve without the PIN", admServeFails(t, srv, bundle), "the online keys are on a token", "HALLMARK_PIN")
	srv.Env = []string{"SOFTHSM2_CONF=" + h.conf, "HALLMARK_PIN=" + tokenPIN}
	admServe(srv, bundle)
	a.MustRun("trust", srv.URL, "--fingerprint", fp)
	roots := admInitialRoots(t, srv)

	alice := NewMaintainer(t, srv, "alice")
	dl := admPin(t, srv, fp)
	dir := t.TempDir()
	upload := func(version string) []byte {
		content := []byte("svc " + version + "\n")
		alice.MustRun("release", "upload", "svc", version, WriteFile(t, dir, "svc-"+version+".tar.gz", content), "--key", "alice")
		admMustGet(t, dl, "svc", "svc-"+version+".tar.gz", content)
		return content
	}
	alice.MustRun("project", "create", "svc", "--key", "alice")
	upload("1.0.0")
	shard := layout.ShardOf("svc", admShards)
	gt := newGoTUF(t, srv, shard, roots[shard])
	timestampKey := func() *metadata.Key {
		tm := gt.refresh().GetTrustedMetadataSet()
		return tm.Root.Signed.Keys[tm.Root.Signed.Roles[metadata.TIMESTAMP].KeyIDs[0]]
	}
	if k := timestampKey(); k.Type != metadata.KeyTypeECDSA_SHA2_P256 {
		t.Fatalf("the timestamp key is %s; want the token's ECDSA key", k.Type)
	}

	// Rotation from the token to a derived secret...
	next := filepath.Join(t.TempDir(), "next.json")
	a.MustRun("admin", "prepare", "--data", srv.Data, "--rotate-online", "-o", next)
	srv.CopyToReplicas("online.secret.next")
	admSays(t, "rotate online to a secret", a.MustRun("admin", "rotate", "online", "--online-keys", next, "--keys", keys, "--yes").Stderr, "published in 16 shard(s)")
	awaitOnlineFiles(t, srv, "after the rotation to a secret", map[string]bool{"online.secret": true, "online.token": false, "online.secret.next": false})
	upload("2.0.0")
	if k := timestampKey(); k.Type != metadata.KeyTypeEd25519 {
		t.Fatalf("after the rotation to a secret the timestamp key is %s; want ed25519", k.Type)
	}

	// ...and back to new keys on the token.
	next2 := filepath.Join(t.TempDir(), "next2.json")
	a.MustRun("admin", "prepare", "--data", srv.Data, "--rotate-online", "--online-token", uri, "--module", softHSMModule, "-o", next2)
	srv.CopyToReplicas("online.token.next")
	admSays(t, "rotate online to the token", a.MustRun("admin", "rotate", "online", "--online-keys", next2, "--keys", keys, "--yes").Stderr, "published in 16 shard(s)")
	awaitOnlineFiles(t, srv, "after the rotation to the token", map[string]bool{"online.secret": false, "online.token": true, "online.token.next": false})
	upload("3.0.0")
	if k := timestampKey(); k.Type != metadata.KeyTypeECDSA_SHA2_P256 {
		t.Fatalf("after the rotation back to the token the timestamp key is %s", k.Type)
	}
	// A restart signs with the token's keys; a fresh go-tuf from the
	// version-1 root and tuf-js follow every rotation.
	srv.Stop()
	admServe(srv, "")
	v4 := upload("4.0.0")
	fresh := newGoTUF(t, srv, shard, roots[shard])
	if got := fresh.download(fresh.refresh(), layout.FilePath("svc", "4.0.0", "svc-4.0.0.tar.gz")); !bytes.Equal(got, v4) {
		t.Fatal("go-tuf downloaded other bytes of svc 4.0.0")
	}
	node, jsDir := needNodeProject(t, "tufjs")
	js := newTufJS(t, node, jsDir, srv, shard, roots[shard])
	if got := js.mustGet(layout.FilePath("svc", "4.0.0", "svc-4.0.0.tar.gz"), t.TempDir()); !bytes.Equal(got, v4) {
		t.Fatal("tuf-js downloaded other bytes of svc 4.0.0")
	}
}

// awaitOnlineFiles waits until the online key files of every data
// directory of srv are as want says (name: exists): at once on the
// replica that received a rotation ceremony, within server.RefreshEvery on
// any other.
func awaitOnlineFiles(t *testing.T, srv *Server, when string, want map[string]bool) {
	t.Helper()
	for _, dir := range srv.DataDirs() {
		ok := func() bool {
			for file, exists := range want {
				if _, err := os.Stat(filepath.Join(dir, file)); (err == nil) != exists {
					return false
				}
			}
			return true
		}
		deadline := time.Now().Add(server.RefreshEvery + 5*time.Second)
		for !ok() && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
		}
		for file, exists := range want {
			if _, err := os.Stat(filepath.Join(dir, file)); (err == nil) != exists {
				t.Fatalf("%s, %s exists in %s: %v", when, file, dir, err == nil)
			}
		}
	}
}
