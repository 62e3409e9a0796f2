// Package pgtest starts throwaway PostgreSQL clusters for tests: initdb
// into a temporary directory, pg_ctl start on a free port of 127.0.0.1,
// one new database per test, and the whole cluster removed at the end.
// When the tests run as root, the server runs as the postgres user
// (PostgreSQL refuses to run as root).
package pgtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"hallmark.dev/hallmark/internal/testenv"
)

// Install says how to install what Start needs.
const Install = "install PostgreSQL's server: apt-get install postgresql (Debian; initdb and pg_ctl are looked up in PATH and /usr/lib/postgresql/*/bin)"

// ErrMissing is returned by Start when PostgreSQL is not installed.
var ErrMissing = errors.New("PostgreSQL (initdb, pg_ctl) is not installed")

// Cluster is a running throwaway cluster.
type Cluster struct {
	dir  string // owns data/, the socket and the log
	bin  string
	port int
	// runAs is the postgres user when the tests run as root.
	runAs *user.User
	dbs   atomic.Int64
}

// binDir finds the directory of initdb and pg_ctl.
func binDir() (string, error) {
	if p, err := exec.LookPath("pg_ctl"); err == nil {
		// PATH may hold links to a few of the programs only (Debian keeps
		// them all in /usr/lib/postgresql/N/bin): use their directory.
		if real, err := filepath.EvalSymlinks(p); err == nil {
			if _, err := os.Stat(filepath.Join(filepath.Dir(real), "initdb")); err == nil {
				return filepath.Dir(real), nil
			}
		}
	}
	found, _ := filepath.Glob("/usr/lib/postgresql/*/bin/pg_ctl")
	if len(found) == 0 {
		return "", ErrMissing
	}
	sort.Strings(found) // the newest major version last (same digit counts on Debian: 13..17)
	return filepath.Dir(found[len(found)-1]), nil
}

// Start initializes a cluster in a new temporary directory and starts it.
// The cluster trusts every local connection and does not fsync: it is for
// tests only. Benchmarks that measure what a durable database costs set
// HALLMARK_PG_FSYNC=on.
func Start(ctx context.Context) (*Cluster, error) {
	bin, err := binDir()
	if err != nil {
		return nil, err
	}
	c := &Cluster{bin: bin}
	if os.Geteuid() == 0 {
		if c.runAs, err = user.Lookup("postgres"); err != nil {
			return nil, fmt.Errorf("tests run as root, and PostgreSQL must run as another user: no postgres user (apt-get install postgresql creates it): %w", err)
		}
	}
	if c.dir, err = os.MkdirTemp("", "hallmark-pg-"); err != nil {
		return nil, err
	}
	if err := c.own(c.dir); err != nil {
		os.RemoveAll(c.dir)
		return nil, err
	}
	data := filepath.Join(c.dir, "data")
	if err := c.run(ctx, "initdb", "-D", data, "-A", "trust", "-U", "postgres", "-E", "UTF8", "--locale=C", "--no-sync"); err != nil {
		os.RemoveAll(c.dir)
		return nil, err
	}
	// A free port may be taken between finding it and the server binding
	// it: try a few.
	fsync := "off"
	if os.Getenv("HALLMARK_PG_FSYNC") == "on" {
		fsync = "on"
	}
	for range 3 {
		if c.port, err = freePort(); err != nil {
			break
		}
		opts := fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=%s -c max_connections=200", c.port, c.dir, fsync)
		if err = c.run(ctx, "pg_ctl", "-D", data, "-l", filepath.Join(c.dir, "log"), "-w", "-t", "60", "-o", opts, "start"); err == nil {
			return c, nil
		}
	}
	log, _ := os.ReadFile(filepath.Join(c.dir, "log"))
	os.RemoveAll(c.dir)
	return nil, fmt.Errorf("%w\nserver log:\n%s", err, log)
}

// own gives a path to the user the server runs as.
func (c *Cluster) own(path string) error {
	if c.runAs == nil {
		return nil
	}
	uid, _ := strconv.Atoi(c.runAs.Uid)
	gid, _ := strconv.Atoi(c.runAs.Gid)
	return os.Chown(path, uid, gid)
}

// run runs one of PostgreSQL's programs as the server's user.
func (c *Cluster) run(ctx context.Context, prog string, args ...string) error {
	path := filepath.Join(c.bin, prog)
	var cmd *exec.Cmd
	if c.runAs != nil {
		cmd = exec.CommandContext(ctx, "runuser", append([]string{"-u", c.runAs.Username, "--", path}, args...)...)
	} else {
		cmd = exec.CommandContext(ctx, path, args...)
	}
	cmd.Dir = c.dir
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s failed: %w\n%s", prog, err, out.Bytes())
	}
	return nil
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// Program returns the path of one of PostgreSQL's programs (pg_dump,
// pg_restore, psql), to run as a client of the cluster.
func (c *Cluster) Program(name string) string { return filepath.Join(c.bin, name) }

// URL returns the connection URL of a database of the cluster.
func (c *Cluster) URL(database string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", c.port, database)
}

// NewDatabase creates an empty database and returns its URL.
func (c *Cluster) NewDatabase(ctx context.Context) (string, error) {
	name := fmt.Sprintf("hallmark_%d", c.dbs.Add(1))
	conn, err := pgx.Connect(ctx, c.URL("postgres"))
	if err != nil {
		return "", err
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		return "", fmt.Errorf("failed to create database %s: %w", name, err)
	}
	return c.URL(name), nil
}

// Stop stops the cluster at once and removes its directory.
func (c *Cluster) Stop() error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	err := c.run(ctx, "pg_ctl", "-D", filepath.Join(c.dir, "data"), "-m", "immediate", "-w", "stop")
	if rerr := os.RemoveAll(c.dir); err == nil {
		err = rerr
	}
	return err
}

// shared is the cluster of one test binary, started by the first Need.
var shared struct {
	sync.Mutex
	c   *Cluster
	err error
}

// Need returns the cluster the tests of this package share, starting it
// on first use. When PostgreSQL is not installed the test skips naming
// what to install, or fails under HALLMARK_TEST_ALL=1. The package's
// TestMain must call StopShared after m.Run.
func Need(t testing.TB) *Cluster {
	t.Helper()
	shared.Lock()
	defer shared.Unlock()
	if shared.c == nil && shared.err == nil {
		shared.c, shared.err = Start(context.Background())
	}
	testenv.NeedTool(t, "PostgreSQL (initdb, pg_ctl)", Install, !errors.Is(shared.err, ErrMissing))
	if shared.err != nil {
		t.Fatalf("failed to start a throwaway PostgreSQL cluster: %v", shared.err)
	}
	return shared.c
}

// NewDatabase returns the URL of a new, empty database of the shared
// cluster (see Need).
func NewDatabase(t testing.TB) string {
	t.Helper()
	url, err := Need(t).NewDatabase(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return url
}

// StopShared stops the shared cluster, if Need started one: call it from
// TestMain after m.Run.
func StopShared() {
	shared.Lock()
	defer shared.Unlock()
	if shared.c != nil {
		if err := shared.c.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "pgtest:", err)
		}
		shared.c = nil
	}
}
