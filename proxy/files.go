package proxy

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"hallmark.dev/hallmark/client"
	"hallmark.dev/hallmark/layout"
)

// filesPrefix is where the proxy serves verified files.
const filesPrefix = "/files/"

// fileURL is the proxy URL of one release file, below base ("http://host").
func fileURL(base, project, version, file string) string {
	return base + filesPrefix + pathEscape(project) + "/" + pathEscape(version) + "/" + pathEscape(file)
}

// file serves one release file after verifying it.
func (s *Server) file(w http.ResponseWriter, r *http.Request) {
	project, version, name := r.PathValue("project"), r.PathValue("version"), r.PathValue("file")
	p, err := s.project(r.Context(), project)
	if err != nil {
		s.refuse(w, r, err)
		return
	}
	rel, ok := p.Index.Release(version)
	if !ok {
		s.refuse(w, r, &notFoundError{fmt.Sprintf("%s has no version %s in its signed index", p.Name, version)})
		return
	}
	entry, ok := fileEntry(rel, name)
	if !ok {
		s.refuse(w, r, &notFoundError{fmt.Sprintf("%s %s has no file %s in its signed index", p.Name, version, name)})
		return
	}
	f, err := s.verified(r.Context(), p, rel.Version, entry)
	if err != nil {
		s.refuse(w, r, err)
		return
	}
	defer f.Close()
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("X-Hallmark-SHA256", entry.SHA256)
	http.ServeContent(w, r, entry.Name, time.Time{}, f)
}

func fileEntry(rel *layout.Release, name string) (layout.FileEntry, bool) {
	for _, f := range rel.Files {
		if f.Name == name {
			return f, true
		}
	}
	return layout.FileEntry{}, false
}

// verified returns the verified bytes of one file of a verified project,
// open at offset 0: from the cache when there (re-hashed against the signed
// entry before use), else downloaded and checked through the client.
func (s *Server) verified(ctx context.Context, p *client.Project, version string, e layout.FileEntry) (*os.File, error) {
	mu, _ := s.fetchMu.LoadOrStore(e.SHA256, &sync.Mutex{})
	mu.(*sync.Mutex).Lock()
	defer mu.(*sync.Mutex).Unlock()
	path := filepath.Join(s.cache, e.SHA256)
	if f, err := openChecked(path, e); err == nil {
		return f, nil
	} else if !errors.Is(err, os.ErrNotExist) {
		s.log.Warn("dropping a cached file that no longer matches its hash", "file", path, "err", err)
		os.Remove(path)
	}
	start := time.Now()
	tmp := filepath.Join(s.cache, ".download-"+e.SHA256)
	if err := s.client.Download(ctx, p, version, e.Name, tmp, nil); err != nil {
		return nil, err
	}
	f, err := openChecked(tmp, e)
	if err != nil {
		// The releases role and the index both come from the maintainers'
		// signatures and the server checks they agree; if they do not, the
		// file is refused rather than served under the index's hash.
		os.Remove(tmp)
		return nil, &client.VerificationError{Shard: p.Shard, Err: fmt.Errorf("%s %s %s: the signed index and the signed targets disagree: %v", p.Name, version, e.Name, err)}
	}
	if err := os.Rename(tmp, path); err != nil {
		f.Close()
		return nil, err
	}
	s.log.Info("verified", "project", p.Name, "version", version, "file", e.Name, "bytes", e.Length,
		"sha256", e.SHA256, "ms", time.Since(start).Milliseconds())
	return f, nil
}

// openChecked opens path and checks its length and sha256 against e.
func openChecked(path string, e layout.FileEntry) (*os.File, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err == nil && (n != e.Length || hex.EncodeToString(h.Sum(nil)) != e.SHA256) {
		err = fmt.Errorf("%d bytes with sha256 %x, signed: %d bytes with sha256 %s", n, h.Sum(nil), e.Length, e.SHA256)
	}
	if err == nil {
		_, err = f.Seek(0, io.SeekStart)
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// verifiedBytes returns a verified file's bytes, for the few the proxy
// reads itself (npm tarballs, to learn their package.json).
func (s *Server) verifiedBytes(ctx context.Context, p *client.Project, version string, e layout.FileEntry) ([]byte, error) {
	f, err := s.verified(ctx, p, version, e)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(f)
}
