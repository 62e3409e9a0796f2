package dirlock

import (
	"errors"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestSecondAcquireIsRefusedNamingTheHolderUntilReleased(t *testing.T) {
	dir := t.TempDir()
	started := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
	first, err := Acquire(dir, started)
	if err != nil {
		t.Fatal(err)
	}
	// A second descriptor on the same file conflicts even within one
	// process: flock locks belong to open files, not processes.
	_, err = Acquire(dir, started.Add(time.Minute))
	var held *HeldError
	if !errors.As(err, &held) {
		t.Fatalf("second Acquire: %v; want a HeldError", err)
	}
	host, _ := os.Hostname()
	want := Holder{PID: os.Getpid(), Host: host, Started: started}
	if held.Holder != want {
		t.Errorf("holder = %+v; want %+v", held.Holder, want)
	}
	for _, part := range []string{dir, "process " + strconv.Itoa(os.Getpid()), host, "2026-12-03T10:00:00Z"} {
		if !strings.Contains(err.Error(), part) {
			t.Errorf("error %q does not name %q", err, part)
		}
	}
	if err := first.Release(); err != nil {
		t.Fatal(err)
	}
	again, err := Acquire(dir, started.Add(2*time.Minute))
	if err != nil {
		t.Fatalf("Acquire after Release: %v", err)
	}
	defer again.Release()
	// The new holder's name replaced the old one's.
	if h := readHolder(dir + "/" + FileName); !h.Started.Equal(started.Add(2 * time.Minute)) {
		t.Errorf("lock file names %+v after the second holder took it", h)
	}
}

func TestAcquireOfAMissingDirectoryFails(t *testing.T) {
	if _, err := Acquire(t.TempDir()+"/missing", time.Now()); err == nil || errors.As(err, new(*HeldError)) {
		t.Errorf("Acquire in a missing directory: %v; want an open error", err)
	}
}
