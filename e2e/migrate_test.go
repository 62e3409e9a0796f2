package e2e

import (
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"

	"hallmark.dev/hallmark/internal/pgtest"
)

// `hallmark migrate` and the server's schema check, as an operator meets
// them: a server on a database without tables is refused and told what
// to run; migrate creates them, and again does nothing; bad values of
// --database are refused naming the form wanted, before anything opens.
func TestMigrateThenServe(t *testing.T) {
	run := func(args ...string) (string, int) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		out, err := exec.CommandContext(ctx, binary, args...).CombinedOutput()
		if ee, ok := err.(*exec.ExitError); ok {
			return string(out), ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return string(out), 0
	}
	db := pgtest.NewDatabase(t)
	data := t.TempDir()
	serve := []string{"serve", "--dev", "--data", data, "--addr", freeAddr(t), "--database", db}

	tests := []struct {
		desc string
		args []string
		code int
		want []string
	}{
		{"serve before migrate", serve, 1, []string{"schema version 0", "needs version", "run 'hallmark migrate --database URL' first"}},
		{"migrate", []string{"migrate", "--database", db}, 0, []string{"migrated the database from schema version 0 to"}},
		{"migrate again", []string{"migrate", "--database", db}, 0, []string{"nothing to do"}},
		{"migrate without a database", []string{"migrate"}, 2, []string{"migrate needs the database", "--database postgres://"}},
		{"migrate of SQLite", []string{"migrate", "--database", "sqlite:///x.db"}, 2, []string{"unsupported database", "needs no migration"}},
		{"serve on a MySQL URL", []string{"serve", "--dev", "--data", data, "--database", "mysql://u:secret@h/db"}, 2, []string{"unsupported database \"mysql://u:xxxxx@h/db\"", "postgres://"}},
		{"serve on a bucket of another scheme", []string{"serve", "--dev", "--data", data, "--blobs", "gs://bucket/x"}, 1, []string{"unsupported blob store", "s3://BUCKET/PREFIX", "check --database and --blobs"}},
		{"standby without a database", []string{"serve", "--dev", "--data", data, "--standby"}, 2, []string{"--standby needs --database"}},
	}
	for _, tt := range tests {
		out, code := run(tt.args...)
		if code != tt.code {
			t.Errorf("%s: exit %d; want %d\n%s", tt.desc, code, tt.code, out)
		}
		for _, w := range tt.want {
			if !strings.Contains(out, w) {
				t.Errorf("%s: output does not say %q:\n%s", tt.desc, w, out)
			}
		}
		if strings.Contains(out, "secret@") {
			t.Errorf("%s: output shows a password:\n%s", tt.desc, out)
		}
	}
}
