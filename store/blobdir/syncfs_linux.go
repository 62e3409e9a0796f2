package blobdir

import (
	"os"
	"runtime"

	"golang.org/x/sys/unix"
)

// canSyncFS is set where one call makes a whole file system durable.
const canSyncFS = true

// fsHandle is the blob directory, held open from Open on: syncfs reports a
// writeback error of the file system only if it happened after the file it
// is called on was opened (Linux 5.8 and later), so a handle opened for each
// Sync would miss the failed writeback of a deferred write made before.
type fsHandle struct{ f *os.File }

func openFS(d *Dir) (*fsHandle, error) {
	f, err := os.Open(d.root)
	if err != nil {
		return nil, err
	}
	h := &fsHandle{f}
	runtime.AddCleanup(d, func(f *os.File) { f.Close() }, f)
	return h, nil
}

// sync makes every write of the file system durable, the directory entries
// of renamed and created files included.
func (h *fsHandle) sync() error { return unix.Syncfs(int(h.f.Fd())) }
