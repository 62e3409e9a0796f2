package e2e

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"hallmark.dev/hallmark/internal/pgtest"
	"hallmark.dev/hallmark/internal/s3test"
)

// The backup of docs/operations.md ("Backing up PostgreSQL and the
// bucket"): pg_dump of the database, a copy of the bucket's objects (what
// bucket versioning or replication keeps) and of the data directory. The
// machine is lost; restored into a new database and a new bucket, a new
// server serves the same verified repository: a user pinning the old
// repository's fingerprint trusts it, sees the same releases with the
// same bytes, and uploads go on.
func TestBackupRestoreIntoNewDatabaseAndBucket(t *testing.T) {
	old := newServerOn(t, true, true)
	old.Start()
	alice := NewMaintainer(t, old, "alice")
	alice.MustRun("project", "create", "backed-up", "--key", "alice")
	dir := t.TempDir()
	files := map[string][]byte{}
	for _, v := range []string{"1.0.0", "1.1.0"} {
		name := "backed-up-" + v + ".tar.gz"
		files[v] = randomContent(t, 20<<10)
		alice.MustRun("release", "upload", "backed-up", v, WriteFile(t, dir, name, files[v]), "--key", "alice")
	}
	fingerprint := admMatch(t, regexp.MustCompile(`trust fingerprint: ([0-9a-f]{64})`), old.Log())
	before := alice.MustRun("versions", "backed-up").Stdout

	// Back up: the database first, then the objects, then the data
	// directory (whose online secret does not change).
	cluster := pgtest.Need(t)
	dump := filepath.Join(t.TempDir(), "hallmark.dump")
	if out, err := exec.Command(cluster.Program("pg_dump"), "--format=custom", "--file", dump, old.Database).CombinedOutput(); err != nil {
		t.Fatalf("pg_dump: %v\n%s", err, out)
	}
	gw := s3test.Need(t)
	bucket := s3test.NewBucket(t, "repo")
	if n, err := gw.CopyBucket(context.Background(), *old.Bucket, bucket); err != nil || n == 0 {
		t.Fatalf("copying the bucket: %d objects, %v", n, err)
	}
	data := filepath.Join(t.TempDir(), "data")
	if err := os.CopyFS(data, os.DirFS(old.Data)); err != nil {
		t.Fatal(err)
	}
	old.Kill() // the machine is lost

	// Restore into a new, empty database (no migrate: the dump carries
	// the schema) and the new bucket.
	restored := &Server{t: t, Data: data, Addr: freeAddr(t), Database: pgtest.NewDatabase(t), Bucket: &bucket, Blobs: bucket.Dir, env: gw.Env()}
	restored.URL = "http://" + restored.Addr
	restored.stores = []string{"--database", restored.Database, "--blobs", bucket.URL}
	t.Cleanup(restored.Stop)
	if out, err := exec.Command(cluster.Program("pg_restore"), "--no-owner", "--dbname", restored.Database, dump).CombinedOutput(); err != nil {
		t.Fatalf("pg_restore: %v\n%s", err, out)
	}
	restored.Start()

	dl := NewUser(t, restored)
	dl.MustRun("trust", restored.URL, "--fingerprint", fingerprint, "--yes")
	if got := dl.MustRun("versions", "backed-up").Stdout; got != before {
		t.Errorf("the restored repository lists\n%s\nbefore the loss it listed\n%s", got, before)
	}
	for v, content := range files {
		out := filepath.Join(t.TempDir(), "got")
		dl.MustRun("get", "backed-up@"+v, "-o", out)
		got, err := os.ReadFile(filepath.Join(out, "backed-up-"+v+".tar.gz"))
		if err != nil || !bytes.Equal(got, content) {
			t.Errorf("backed-up %s from the restored repository: %d bytes, %v; want the uploaded bytes", v, len(got), err)
		}
	}
	// Publishing goes on from the restored state.
	alice.Env = append(alice.Env, "HALLMARK_REPO="+restored.URL)
	alice.MustRun("trust", restored.URL, "--fingerprint", fingerprint, "--yes")
	alice.MustRun("release", "upload", "backed-up", "1.2.0", WriteFile(t, dir, "backed-up-1.2.0.tar.gz", []byte("1.2.0\n")), "--key", "alice")
	if got := dl.MustRun("versions", "backed-up").Stdout; !strings.HasPrefix(got, "1.2.0\n") {
		t.Errorf("after an upload to the restored repository, versions lists:\n%s", got)
	}
}
