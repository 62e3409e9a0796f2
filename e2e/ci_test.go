package e2e

// Releases from CI (issue 14): a key made with `hallmark key generate
// --for-ci`, kept only as CI secrets, signs a release in a job that has no
// terminal; with the releases threshold at 2 a human maintainer approves
// it before anyone can download it.

import (
	"bytes"
	"context"
	"encoding/base64"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

var ciSecretLine = regexp.MustCompile(`(?m)^(HALLMARK_KEY|HALLMARK_PASSPHRASE)=(\S+)$`)

// ciJob runs the hallmark CLI as a CI job does: a fresh home, the key and
// passphrase in the environment, no terminal (a new session, so /dev/tty
// cannot be opened) and nothing on standard input.
type ciJob struct {
	t   testing.TB
	env []string
	dir string
}

func newCIJob(t testing.TB, srv *Server, secrets ...string) *ciJob {
	home := t.TempDir()
	env := []string{"HOME=" + home, "PATH=" + os.Getenv("PATH"), "HALLMARK_HOME=" + home, "HALLMARK_REPO=" + srv.URL}
	return &ciJob{t: t, env: append(env, secrets...), dir: home}
}

func (j *ciJob) run(args ...string) Result {
	j.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, args...)
	cmd.Env, cmd.Dir = j.env, j.dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Pdeathsig: syscall.SIGKILL}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	r := Result{Stdout: out.String(), Stderr: errb.String()}
	if ee, ok := err.(*exec.ExitError); ok && ctx.Err() == nil {
		r.Code = ee.ExitCode()
	} else if err != nil {
		j.t.Fatalf("hallmark %s: %v\n%s", strings.Join(args, " "), err, r.Stderr)
	}
	return r
}

func (j *ciJob) mustRun(args ...string) Result {
	j.t.Helper()
	r := j.run(args...)
	if r.Code != 0 {
		j.t.Fatalf("CI job: hallmark %s: exit %d\nstderr:\n%s", strings.Join(args, " "), r.Code, r.Stderr)
	}
	return r
}

func (j *ciJob) mustFail(want string, args ...string) Result {
	j.t.Helper()
	r := j.run(args...)
	if r.Code == 0 || !strings.Contains(r.Stderr, want) {
		j.t.Fatalf("CI job: hallmark %s: exit %d; want a failure saying %q\nstderr:\n%s", strings.Join(args, " "), r.Code, want, r.Stderr)
	}
	return r
}

func TestReleaseFromCIApprovedByAHuman(t *testing.T) {
	srv := StartServer(t)
	alice := NewMaintainer(t, srv, "alice")
	fp := admMatch(t, admTrustFingerprint, NewUser(t, srv).MustRun("trust", srv.URL, "--yes").Stderr)
	dir := t.TempDir()
	v1 := []byte("app 1.0.0, by alice\n")
	alice.MustRun("project", "create", "app", "--key", "alice")
	alice.MustRun("release", "upload", "app", "1.0.0", WriteFile(t, dir, "app-1.0.0.tar.gz", v1), "--key", "alice")

	// Alice makes the CI key: it is printed, never stored.
	r := alice.MustRun("key", "generate", "ci-bot", "--for-ci")
	secrets := map[string]string{}
	for _, m := range ciSecretLine.FindAllStringSubmatch(r.Stdout, -1) {
		secrets[m[1]] = m[2]
	}
	pub := admMatch(t, regexp.MustCompile(`hallmark maintainer add PROJECT '([^']+)'`), r.Stdout)
	if len(secrets) != 2 || len(secrets["HALLMARK_PASSPHRASE"]) < 40 {
		t.Fatalf("key generate --for-ci does not print both secrets:\n%s", r.Stdout)
	}
	if names, _ := filepath.Glob(filepath.Join(alice.Home, "keys", "*")); len(names) != 1 {
		t.Fatalf("key generate --for-ci stored something: %v", names)
	}

	// The CI key becomes a maintainer (never an owner); the releases
	// threshold rises to 2, which the CI key co-signs once.
	alice.MustRun("maintainer", "add", "app", pub, "--key", "alice", "--yes")
	r = alice.MustRun("project", "threshold", "app", "--releases", "2", "--key", "alice", "--yes")
	ci := newCIJob(t, srv, "HALLMARK_KEY="+secrets["HALLMARK_KEY"], "HALLMARK_PASSPHRASE="+secrets["HALLMARK_PASSPHRASE"])
	ci.mustRun("trust", srv.URL, "--fingerprint", fp)
	ci.mustRun("approve", "app", govPendingID(t, r, "app"), "--yes")

	// Without the passphrase, or with a wrong one, the job fails at once
	// with what to set; it never waits for a prompt.
	v2 := WriteFile(t, ci.dir, "app-1.1.0.tar.gz", []byte("app 1.1.0, built by CI\n"))
	noPass := newCIJob(t, srv, "HALLMARK_KEY="+secrets["HALLMARK_KEY"])
	noPass.mustRun("trust", srv.URL, "--fingerprint", fp)
	noPass.mustFail("HALLMARK_KEY holds an encrypted key but HALLMARK_PASSPHRASE is not set", "release", "upload", "app", "1.1.0", v2)
	badPass := newCIJob(t, srv, "HALLMARK_KEY="+secrets["HALLMARK_KEY"], "HALLMARK_PASSPHRASE=guess")
	badPass.mustRun("trust", srv.URL, "--fingerprint", fp)
	badPass.mustFail("wrong passphrase", "release", "upload", "app", "1.1.0", v2)
	garbled := newCIJob(t, srv, "HALLMARK_KEY=not-a-key", "HALLMARK_PASSPHRASE=x")
	garbled.mustRun("trust", srv.URL, "--fingerprint", fp)
	garbled.mustFail("HALLMARK_KEY: it is neither a key file nor base64", "release", "upload", "app", "1.1.0", v2)
	// A signing command that asks for confirmation refuses without a terminal.
	ci.mustFail("standard input is not a terminal", "release", "yank", "app", "1.0.0", "--reason", "test")
	if len(govServerPending(t, srv, "app")) != 0 {
		t.Fatal("a refused CI job left a pending change")
	}

	// The CI job uploads; the release waits for a human.
	r = ci.mustRun("release", "upload", "app", "1.1.0", v2)
	id := govPendingID(t, r, "app")
	dl := admPin(t, srv, fp)
	dl.MustFail("app has no version 1.1.0", "get", "app@1.1.0", "-o", t.TempDir())
	admMustGet(t, dl, "app", "app-1.0.0.tar.gz", v1)
	// The CI key cannot approve its own change a second time.
	ci.mustFail("cannot add a signature to this change: it has signed already", "approve", "app", id, "--yes")

	// Alice reads the pending change and approves it; now it downloads.
	admSays(t, "pending", alice.MustRun("pending", "app").Stdout, "add release 1.1.0")
	admSays(t, "approve", alice.MustRun("approve", "app", id, "--key", "alice", "--yes").Stderr, "published")
	admMustGet(t, dl, "app", "app-1.1.0.tar.gz", []byte("app 1.1.0, built by CI\n"))

	// The key may also come from a file (HALLMARK_KEY_FILE), never from both.
	keyData, err := base64.StdEncoding.DecodeString(secrets["HALLMARK_KEY"])
	if err != nil {
		t.Fatal(err)
	}
	keyFile := WriteFile(t, t.TempDir(), "ci.key", keyData)
	both := newCIJob(t, srv, "HALLMARK_KEY="+secrets["HALLMARK_KEY"], "HALLMARK_KEY_FILE="+keyFile, "HALLMARK_PASSPHRASE="+secrets["HALLMARK_PASSPHRASE"])
	both.mustRun("trust", srv.URL, "--fingerprint", fp)
	v3 := WriteFile(t, both.dir, "app-1.2.0.tar.gz", []byte("app 1.2.0\n"))
	both.mustFail("both HALLMARK_KEY and HALLMARK_KEY_FILE are set", "release", "upload", "app", "1.2.0", v3)
	fromFile := newCIJob(t, srv, "HALLMARK_KEY_FILE="+keyFile, "HALLMARK_PASSPHRASE="+secrets["HALLMARK_PASSPHRASE"])
	fromFile.mustRun("trust", srv.URL, "--fingerprint", fp)
	govPendingID(t, fromFile.mustRun("release", "upload", "app", "1.2.0", v3), "app")
}
