// Package dirlock gives one process at a time a directory: the embedded
// mode of `hallmark serve` keeps its state in a SQLite file and its blobs
// in a local directory, and two servers on one data directory would each
// publish on their own and break the versions-only-grow rule.
//
// The lock is an flock(2) on a file in the directory, so the kernel
// releases it when the holder exits, however it exits (kill -9
// included): a lock never outlives its process. The file also names the
// holder (pid, host, start time) so the process refused can say who holds
// the directory.
package dirlock

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// FileName is the lock file kept in a locked directory.
const FileName = "serve.lock"

// Holder describes the process holding a directory.
type Holder struct {
	PID     int       `json:"pid"`
	Host    string    `json:"host"`
	Started time.Time `json:"started"`
}

// String describes the holder for an error message.
func (h Holder) String() string {
	if h.PID == 0 {
		return "another process (it has not written its name yet)"
	}
	return fmt.Sprintf("process %d on host %s, started %s", h.PID, h.Host, h.Started.UTC().Format(time.RFC3339))
}

// HeldError is returned by Acquire when another process holds the
// directory.
type HeldError struct {
	Dir    string
	Holder Holder
}

func (e *HeldError) Error() string {
	return fmt.Sprintf("the data directory %s is in use by %s", e.Dir, e.Holder)
}

// Lock is a held directory lock.
type Lock struct {
	f *os.File
}

// Acquire takes the lock of dir without waiting, writing this process's
// pid, host name and the time now into the lock file. It returns a
// *HeldError naming the holder when another process (or another Acquire
// in this process) holds it.
func Acquire(dir string, now time.Time) (*Lock, error) {
	name := filepath.Join(dir, FileName)
	f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("failed to open the lock file: %w", err)
	}
	if err := tryLock(f); err != nil {
		f.Close()
		if !errors.Is(err, errHeld) {
			return nil, fmt.Errorf("failed to lock %s: %w", name, err)
		}
		return nil, &HeldError{Dir: dir, Holder: readHolder(name)}
	}
	host, _ := os.Hostname()
	data, err := json.Marshal(Holder{PID: os.Getpid(), Host: host, Started: now.UTC()})
	if err == nil {
		err = f.Truncate(0)
	}
	if err == nil {
		_, err = f.WriteAt(append(data, '\n'), 0)
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("failed to write the lock file %s: %w", name, err)
	}
	return &Lock{f: f}, nil
}

// readHolder reads the holder's description; a holder that has locked but
// not yet written is read as the zero Holder.
func readHolder(name string) Holder {
	var h Holder
	for range 3 {
		data, err := os.ReadFile(name)
		if err == nil && json.Unmarshal(data, &h) == nil {
			return h
		}
		time.Sleep(20 * time.Millisecond)
	}
	return Holder{}
}

// Release gives the directory up. The lock file stays (removing it would
// let a third process lock a new file while a second still waits on the
// old one).
func (l *Lock) Release() error {
	if l == nil || l.f == nil {
		return nil
	}
	err := l.f.Close() // closing the descriptor drops the flock
	l.f = nil
	return err
}
