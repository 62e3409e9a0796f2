// Package blobdir stores blobs as files below a local directory. Writes go
// to a temporary file that is synced and renamed into place, so a crash
// leaves either the old blob or the new one.
package blobdir

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"time"

	"hallmark.dev/hallmark/store"
)

// Dir is a blob store rooted at a directory.
type Dir struct {
	root string
	// dirs remembers the directories Put has made or found, so a write
	// into a known directory costs no stat.
	dirs sync.Map
}

// Open returns a blob store rooted at dir, creating it if needed.
func Open(dir string) (*Dir, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("failed to create blob directory: %w", err)
	}
	return &Dir{root: dir}, nil
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
func (d *Dir) Put(ctx context.Context, p string, r io.Reader) (err error) {
	name, err := d.file(p)
	if err != nil {
		return err
	}
	dir := filepath.Dir(name)
	if _, ok := d.dirs.Load(dir); !ok {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("failed to store %s: %w", p, err)
		}
		d.dirs.Store(dir, true)
	}
	var rnd [8]byte
	rand.Read(rnd[:])
	tmpName := filepath.Join(dir, ".tmp-"+hex.EncodeToString(rnd[:]))
	tmp, err := os.OpenFile(tmpName, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if errors.Is(err, fs.ErrNotExist) {
		// The directory was removed behind our back: make it again.
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("failed to store %s: %w", p, err)
		}
		tmp, err = os.OpenFile(tmpName, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	}
	if err != nil {
		return fmt.Errorf("failed to store %s: %w", p, err)
	}
	defer func() {
		if err != nil {
			os.Remove(tmpName)
		}
	}()
	if _, err := io.Copy(tmp, ctxReader{ctx, r}); err != nil {
		tmp.Close()
		return fmt.Errorf("failed to store %s: %w", p, err)
	}
	// Served files are world-readable whatever the umask (a web server
	// in front may run as another user).
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return fmt.Errorf("failed to store %s: %w", p, err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("failed to store %s: %w", p, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("failed to store %s: %w", p, err)
	}
	if err := os.Rename(tmpName, name); err != nil {
		return fmt.Errorf("failed to store %s: %w", p, err)
	}
	return nil
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
