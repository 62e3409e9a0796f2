package e2e

import (
	"bytes"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"hallmark.dev/hallmark/internal/testenv"
)

// The server answers most downloads from memory. These tests change the
// files it serves from outside the server process, every way an operator,
// an attacker or another program can, and check that a running `hallmark
// serve` then serves the files as stored: through the kernel's change
// reports (the servers run with --file-recheck 1h, so no periodic check
// explains a pass), or, for a change the kernel does not report, within
// --file-recheck.

// served fetches a path from srv: its status and body.
func served(t *testing.T, srv *Server, path string) (int, []byte) {
	t.Helper()
	resp, err := http.Get(srv.URL + "/" + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, body
}

// awaitServed asks srv for path until it answers with want (or 404 when
// want is nil), for up to ten seconds.
func awaitServed(t *testing.T, srv *Server, path string, want []byte, after string) {
	t.Helper()
	var code int
	var got []byte
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		code, got = served(t, srv, path)
		if (want == nil && code == http.StatusNotFound) || (want != nil && code == 200 && bytes.Equal(got, want)) {
			return
		}
	}
	t.Fatalf("after %s, GET /%s = %d %.80q; want %.80q", after, path, code, got, want)
}

// tamperInPlace writes good with a byte flipped over file, in place, and
// puts the file's times back, as an attacker hiding the change would; it
// returns the new content.
func tamperInPlace(t *testing.T, file string, good []byte) []byte {
	t.Helper()
	st, err := os.Stat(file)
	if err != nil {
		t.Fatal(err)
	}
	data := bytes.Clone(good)
	data[len(data)/2] ^= 0x20
	f, err := os.OpenFile(file, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt(data, 0); err != nil {
		t.Fatal(err)
	}
	f.Close()
	os.Chtimes(file, st.ModTime(), st.ModTime())
	return data
}

func mustRead(t *testing.T, file string) []byte {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func runCmd(t *testing.T, name string, args ...string) {
	t.Helper()
	if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
		t.Fatalf("%s %v: %v\n%s", name, args, err, out)
	}
}

// TestServedFilesFollowChangesFromOutside: the publisher's own writes are
// served at once; an operator's rsync from a backup, a restore that swaps
// a directory, and a file deleted and put back are served as soon as the
// kernel reports them, however the attacker before them hid the change
// (same size, old modification time).
func TestServedFilesFollowChangesFromOutside(t *testing.T) {
	needBlobDir(t)
	_, err := exec.LookPath("rsync")
	testenv.NeedTool(t, "rsync", "apt-get install rsync", err == nil)
	srv := StartServer(t, "--file-recheck", "1h")
	alice := NewMaintainer(t, srv, "alice")
	alice.MustRun("project", "create", "hello", "--key", "alice")
	dir := t.TempDir()
	alice.MustRun("release", "upload", "hello", "1.0.0", WriteFile(t, dir, "hello-1.0.0.tar.gz", []byte("hello 1.0.0")))
	shard := projectShard(t, "hello")
	ts := "metadata/" + shard + "/timestamp.json"
	shardDir := srv.BlobPath("metadata/" + shard)

	t.Run("the server's own publisher", func(t *testing.T) {
		_, before := served(t, srv, ts)
		if _, again := served(t, srv, ts); !bytes.Equal(again, before) {
			t.Fatal("two reads differ")
		}
		alice.MustRun("release", "upload", "hello", "1.0.1", WriteFile(t, dir, "hello-1.0.1.tar.gz", []byte("hello 1.0.1")))
		// No waiting: the upload's answer comes after the new timestamp
		// was written, and the write dropped the copy in memory.
		if _, after := served(t, srv, ts); bytes.Equal(after, before) || !bytes.Equal(after, mustRead(t, srv.BlobPath(ts))) {
			t.Fatalf("after an upload the server serves %.80q; the file holds %.80q", after, mustRead(t, srv.BlobPath(ts)))
		}
	})

	backup := filepath.Join(t.TempDir(), "backup")
	runCmd(t, "rsync", "-a", shardDir+"/", backup+"/")
	good := mustRead(t, srv.BlobPath(ts))

	t.Run("an operator's rsync from a backup", func(t *testing.T) {
		awaitServed(t, srv, ts, good, "the backup")
		tampered := tamperInPlace(t, srv.BlobPath(ts), good)
		awaitServed(t, srv, ts, tampered, "tampering in place")
		// The attacker's file has the backup's size and time: only
		// --checksum makes rsync copy it.
		runCmd(t, "rsync", "-a", "--checksum", backup+"/", shardDir+"/")
		awaitServed(t, srv, ts, good, "rsync -a --checksum from the backup")
	})

	t.Run("a restore that swaps the directory", func(t *testing.T) {
		tampered := tamperInPlace(t, srv.BlobPath(ts), good)
		awaitServed(t, srv, ts, tampered, "tampering in place")
		if err := os.Rename(shardDir, shardDir+".tampered"); err != nil {
			t.Fatal(err)
		}
		runCmd(t, "cp", "-a", backup, shardDir)
		awaitServed(t, srv, ts, good, "the directory was swapped for the backup")
	})

	t.Run("a file deleted and put back", func(t *testing.T) {
		idx := "targets/hello/1.0.0"
		matches, _ := filepath.Glob(srv.BlobPath(idx) + "/*.hello-1.0.0.tar.gz")
		if len(matches) != 1 {
			t.Fatalf("release file: %v", matches)
		}
		path := idx + "/" + filepath.Base(matches[0])
		awaitServed(t, srv, path, []byte("hello 1.0.0"), "the upload")
		saved := filepath.Join(t.TempDir(), "saved")
		runCmd(t, "cp", "-a", matches[0], saved)
		if err := os.Remove(matches[0]); err != nil {
			t.Fatal(err)
		}
		awaitServed(t, srv, path, nil, "the file was deleted")
		runCmd(t, "cp", "-a", saved, matches[0])
		awaitServed(t, srv, path, []byte("hello 1.0.0"), "the file was put back")
	})
}

// TestServedFilesFollowRepair: a timestamp.json tampered with on disk is
// rewritten by the server's periodic repair, and the repaired file is
// served, not the tampered copy held in memory.
func TestServedFilesFollowRepair(t *testing.T) {
	needBlobDir(t)
	srv := StartServer(t, "--file-recheck", "1h", "--renew-every", "3s")
	shard := projectShard(t, "hello")
	ts := "metadata/" + shard + "/timestamp.json"
	good := mustRead(t, srv.BlobPath(ts))
	awaitServed(t, srv, ts, good, "start")
	for try := 0; ; try++ {
		tampered := tamperInPlace(t, srv.BlobPath(ts), good)
		code, got := served(t, srv, ts)
		for deadline := time.Now().Add(10 * time.Second); !bytes.Equal(got, tampered) && time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
			if bytes.Equal(mustRead(t, srv.BlobPath(ts)), good) {
				break // repaired before the tampered copy was seen: tamper again
			}
			code, got = served(t, srv, ts)
		}
		if code == 200 && bytes.Equal(got, tampered) {
			break
		}
		if try == 3 {
			t.Fatalf("the tampered timestamp was never served (%d %.80q)", code, got)
		}
	}
	awaitServed(t, srv, ts, good, "the repair")
	if !bytes.Equal(mustRead(t, srv.BlobPath(ts)), good) {
		t.Fatal("the repair wrote other bytes")
	}
}

// TestServedFilesFollowUnreportedChanges: a change the kernel does not
// report to the server (a write through mmap; another machine writing to
// a shared NFS directory is the same to the server) is served within
// --file-recheck, by the server's periodic stat of the file.
func TestServedFilesFollowUnreportedChanges(t *testing.T) {
	needBlobDir(t)
	srv := StartServer(t, "--file-recheck", "300ms")
	alice := NewMaintainer(t, srv, "alice")
	alice.MustRun("project", "create", "hello", "--key", "alice")
	alice.MustRun("release", "upload", "hello", "1.0.0", WriteFile(t, t.TempDir(), "hello-1.0.0.tar.gz", []byte("hello 1.0.0")))
	matches, _ := filepath.Glob(srv.BlobPath("targets/hello/1.0.0") + "/*.hello-1.0.0.tar.gz")
	if len(matches) != 1 {
		t.Fatalf("release file: %v", matches)
	}
	path := "targets/hello/1.0.0/" + filepath.Base(matches[0])
	awaitServed(t, srv, path, []byte("hello 1.0.0"), "the upload")

	f, err := os.OpenFile(matches[0], os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	time.Sleep(10 * time.Millisecond) // a new modification time, even on a coarse clock
	m, err := syscall.Mmap(int(f.Fd()), 0, len("hello 1.0.0"), syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_SHARED)
	if err != nil {
		t.Fatal(err)
	}
	copy(m, "HELLO")
	if err := syscall.Munmap(m); err != nil {
		t.Fatal(err)
	}
	awaitServed(t, srv, path, []byte("HELLO 1.0.0"), "a write through mmap")
}
