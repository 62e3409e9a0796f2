// Package blobdir stores blobs as files below a local directory. Writes go
// to a temporary file that is synced and renamed into place, so a crash
// leaves either the old blob or the new one.
//
// Deferred writes (store.DeferredSyncBlobs) skip the per-file sync; Sync
// then makes all of them durable with one syncfs(2) of the directory's file
// system, shared by every caller that arrives while one runs (the file
// system's writeback and one device flush, instead of a flush per file).
// Where syncfs is not available, deferred writes are synced one by one.
package blobdir

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"hallmark.dev/hallmark/internal/groupcommit"
	"hallmark.dev/hallmark/store"
)

// tempPrefix starts the name of a file Put is writing; such a file is never
// served (the server refuses paths with a "/." in them).
const tempPrefix = ".tmp-"

// Dir is a blob store rooted at a directory.
type Dir struct {
	root string
	// dirs remembers the directories Put has made or found, so a write
	// into a known directory costs no stat.
	dirs sync.Map
	// chmod is set when the process's umask (read at Open) would take a
	// read bit off a new file, so each new file needs a chmod to 0644.
	chmod bool
	// syncs gathers concurrent Sync calls into one syncfs of fs.
	syncs groupcommit.Group[struct{}]
	fs    *fsHandle
}

// Open returns a blob store rooted at dir, creating it if needed.
func Open(dir string) (*Dir, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("failed to create blob directory: %w", err)
	}
	d := &Dir{root: dir, chmod: umaskStrips(0o644)}
	fs, err := openFS(d)
	if err != nil {
		return nil, fmt.Errorf("failed to open blob directory: %w", err)
	}
	d.fs = fs
	return d, nil
}

// umaskStrips reports whether the process's umask takes any bit of perm
// off new files, or whether the umask cannot be read (then every file is
// chmodded, as it always was).
func umaskStrips(perm uint32) bool {
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return true
	}
	for line := range strings.Lines(string(status)) {
		if v, ok := strings.CutPrefix(line, "Umask:"); ok {
			mask, err := strconv.ParseUint(strings.TrimSpace(v), 8, 32)
			return err != nil || uint32(mask)&perm != 0
		}
	}
	return true
}

// Root returns the directory.
func (d *Dir) Root() string { return d.root }

func (d *Dir) file(p string) (string, error) {
	if err := store.CheckBlobPath(p); err != nil {
		return "", err
	}
	return filepath.Join(d.root, filepath.FromSlash(p)), nil
}

// Put implements store.Blobs.
func (d *Dir) Put(ctx context.Context, p string, r io.Reader) error {
	s, err := d.stage(ctx, p, r, true)
	if err != nil {
		return err
	}
	return s.Publish(ctx)
}

// Stage implements store.StagingBlobs: the bytes go to a synced temporary
// file beside the blob, which Publish renames into place.
func (d *Dir) Stage(ctx context.Context, p string, r io.Reader) (store.StagedBlob, error) {
	return d.stage(ctx, p, r, true)
}

// PutDeferred implements store.DeferredSyncBlobs.
func (d *Dir) PutDeferred(ctx context.Context, p string, r io.Reader) error {
	s, err := d.stage(ctx, p, r, !canSyncFS)
	if err != nil {
		return err
	}
	return s.Publish(ctx)
}

// StageDeferred implements store.DeferredSyncBlobs.
func (d *Dir) StageDeferred(ctx context.Context, p string, r io.Reader) (store.StagedBlob, error) {
	return d.stage(ctx, p, r, !canSyncFS)
}

// Sync implements store.DeferredSyncBlobs: one syncfs(2) for every caller
// that arrives while another's runs. A caller waits for a syncfs that began
// after it called, so every write it made before is covered.
func (d *Dir) Sync(ctx context.Context) error {
	if !canSyncFS {
		return nil // deferred writes were synced one by one
	}
	return d.syncs.Do(ctx, struct{}{}, func(ctx context.Context, reqs []*groupcommit.Request[struct{}]) {
		err := d.fs.sync()
		if err != nil {
			err = fmt.Errorf("failed to sync the blob directory: %w", err)
		}
		for _, r := range reqs {
			r.Answer(err)
		}
	})
}

// staged is a synced temporary file waiting to be renamed to its blob.
type staged struct {
	p, tmp, name string
}

// Publish implements store.StagedBlob.
func (s *staged) Publish(ctx context.Context) error {
	// syscall.Rename, not os.Rename: os.Rename first stats the target to
	// refuse replacing a directory, which rename(2) refuses for a file
	// anyway.
	if err := syscall.Rename(s.tmp, s.name); err != nil {
		os.Remove(s.tmp)
		return fmt.Errorf("failed to store %s: %w", s.p, &os.LinkError{Op: "rename", Old: s.tmp, New: s.name, Err: err})
	}
	return nil
}

// Discard implements store.StagedBlob.
func (s *staged) Discard() { os.Remove(s.tmp) }

// stage writes r to a temporary file beside the blob at p, synced when sync
// is set.
func (d *Dir) stage(ctx context.Context, p string, r io.Reader, sync bool) (_ *staged, err error) {
	name, err := d.file(p)
	if err != nil {
		return nil, err
	}
	dir := filepath.Dir(name)
	if _, ok := d.dirs.Load(dir); !ok {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, fmt.Errorf("failed to store %s: %w", p, err)
		}
		d.dirs.Store(dir, true)
	}
	var rnd [8]byte
	rand.Read(rnd[:])
	tmpName := filepath.Join(dir, tempPrefix+hex.EncodeToString(rnd[:]))
	tmp, err := os.OpenFile(tmpName, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if errors.Is(err, fs.ErrNotExist) {
		// The directory was removed behind our back: make it again.
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, fmt.Errorf("failed to store %s: %w", p, err)
		}
		tmp, err = os.OpenFile(tmpName, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	}
	if err != nil {
		return nil, fmt.Errorf("failed to store %s: %w", p, err)
	}
	defer func() {
		if err != nil {
			os.Remove(tmpName)
		}
	}()
	if err := copyTo(ctx, tmp, r); err != nil {
		tmp.Close()
		return nil, fmt.Errorf("failed to store %s: %w", p, err)
	}
	// Served files are world-readable whatever the umask (a web server
	// in front may run as another user); the create made them so unless
	// the umask took a bit off.
	if d.chmod {
		if err := tmp.Chmod(0o644); err != nil {
			tmp.Close()
			return nil, fmt.Errorf("failed to store %s: %w", p, err)
		}
	}
	if sync {
		if err := tmp.Sync(); err != nil {
			tmp.Close()
			return nil, fmt.Errorf("failed to store %s: %w", p, err)
		}
	}
	if err := tmp.Close(); err != nil {
		return nil, fmt.Errorf("failed to store %s: %w", p, err)
	}
	return &staged{p: p, tmp: tmpName, name: name}, nil
}

// copyBuffers holds the buffers copyTo reads through: a new 32 KiB buffer
// per stored file (io.Copy's) was a seventh of the upload path's
// allocations.
var copyBuffers = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

// copyTo copies r to f until EOF, stopping early when ctx is done: a bytes
// reader (the publisher's metadata) in one write, anything else through a
// pooled buffer.
func copyTo(ctx context.Context, f *os.File, r io.Reader) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if br, ok := r.(*bytes.Reader); ok {
		_, err := br.WriteTo(f)
		return err
	}
	buf := copyBuffers.Get().(*[]byte)
	defer copyBuffers.Put(buf)
	// Hide f's ReadFrom, which would allocate a buffer of its own.
	_, err := io.CopyBuffer(struct{ io.Writer }{f}, ctxReader{ctx, r}, *buf)
	return err
}

type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(b []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(b)
}

type blob struct {
	*os.File
	size int64
	mod  time.Time
}

func (b blob) Size() int64        { return b.size }
func (b blob) ModTime() time.Time { return b.mod }

// Open implements store.Blobs.
func (d *Dir) Open(ctx context.Context, p string) (store.Blob, error) {
	name, err := d.file(p)
	if err != nil {
		return nil, store.ErrNotFound
	}
	f, err := os.Open(name)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, store.ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	st, err := f.Stat()
	if err != nil || st.IsDir() {
		f.Close()
		return nil, store.ErrNotFound
	}
	return blob{File: f, size: st.Size(), mod: st.ModTime()}, nil
}

// Exists implements store.Blobs.
func (d *Dir) Exists(ctx context.Context, p string) (bool, error) {
	name, err := d.file(p)
	if err != nil {
		return false, err
	}
	st, err := os.Stat(name)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	return err == nil && !st.IsDir(), err
}

// Delete implements store.Blobs.
func (d *Dir) Delete(ctx context.Context, p string) error {
	name, err := d.file(p)
	if err != nil {
		return err
	}
	if err := os.Remove(name); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

// Stat returns a blob's size and modification time, without opening it.
func (d *Dir) Stat(ctx context.Context, p string) (int64, time.Time, error) {
	name, err := d.file(p)
	if err != nil {
		return 0, time.Time{}, store.ErrNotFound
	}
	st, err := os.Stat(name)
	if errors.Is(err, fs.ErrNotExist) || (err == nil && st.IsDir()) {
		return 0, time.Time{}, store.ErrNotFound
	}
	if err != nil {
		return 0, time.Time{}, err
	}
	return st.Size(), st.ModTime(), nil
}

// RemoveTemporary removes the temporary files that writes interrupted by a
// crash left behind (a kill -9 in the middle of a Put), if they were last
// modified before before: a file newer than that may belong to a write in
// progress. It returns how many files and bytes it removed. Run it at
// start-up, with the start time.
func (d *Dir) RemoveTemporary(ctx context.Context, before time.Time) (files int, bytes int64, err error) {
	err = filepath.WalkDir(d.root, func(name string, e fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil // removed meanwhile
			}
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if e.IsDir() || !strings.HasPrefix(e.Name(), tempPrefix) {
			return nil
		}
		info, err := e.Info()
		if err != nil || !info.Mode().IsRegular() || !info.ModTime().Before(before) {
			return nil
		}
		if err := os.Remove(name); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("failed to remove leftover temporary file: %w", err)
		}
		files++
		bytes += info.Size()
		return nil
	})
	return files, bytes, err
}
