package server

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/theupdateframework/go-tuf/v2/metadata"

	"hallmark.dev/hallmark/api"
	"hallmark.dev/hallmark/layout"
	"hallmark.dev/hallmark/publish"
	"hallmark.dev/hallmark/store"
	"hallmark.dev/hallmark/tufmeta"
	"hallmark.dev/hallmark/validation"
)

// DefaultPendingTTL is how long a pending change waits for signatures.
const DefaultPendingTTL = 7 * 24 * time.Hour

// keepPending stores a change that lacks signatures, with its staged files.
// MaxPendingPerProject bounds the pending changes a project may have.
const MaxPendingPerProject = 20

// errTooManyPending refuses a pending change over MaxPendingPerProject.
var errTooManyPending = errors.New("too many pending changes")

func (s *Server) keepPending(ctx context.Context, u *upload, c *publish.Change, res publish.Result) (api.PendingResponse, error) {
	list, err := s.cfg.State.ListPending(ctx, c.Project)
	if err != nil {
		return api.PendingResponse{}, err
	}
	// The same change posted again (anyone can copy a pending change) is
	// the pending change already kept, not a new one.
	key := changeKey(c)
	for _, p := range list {
		var req api.ChangeRequest
		if json.Unmarshal(p.Change, &req) == nil && pendingKey(req) == key && p.Expires.After(s.cfg.Now()) {
			return api.PendingResponse{Status: api.StatusPending, Project: c.Project, ID: p.ID, Expires: p.Expires,
				SignaturesValid: len(res.Sigs.Valid), Threshold: res.Sigs.Threshold}, nil
		}
	}
	// Superseded changes are kept for their authors to see, but never
	// stand in the way of a new one: the oldest go first.
	for i := 0; len(list) >= MaxPendingPerProject && i < len(list); i++ {
		if s.superseded(ctx, list[i]) {
			s.dropPending(ctx, list[i])
			list = slices.Delete(list, i, i+1)
			i--
		}
	}
	if len(list) >= MaxPendingPerProject {
		return api.PendingResponse{}, errTooManyPending
	}
	var rnd [8]byte
	rand.Read(rnd[:])
	id := hex.EncodeToString(rnd[:])
	now := s.cfg.Now()
	p := store.PendingChange{ID: id, Project: c.Project, Created: now, Expires: now.Add(s.cfg.PendingTTL)}
	for path, f := range u.files {
		r, err := f.Open()
		if err != nil {
			return api.PendingResponse{}, err
		}
		err = s.cfg.Blobs.Put(ctx, store.PendingBlobPath(id, f.SHA256), r)
		r.Close()
		if err != nil {
			return api.PendingResponse{}, err
		}
		p.Files = append(p.Files, store.FileRecord{Project: c.Project, Path: path, SHA256: f.SHA256, Length: f.Length})
	}
	req := u.req
	req.Project = c.Project
	if p.Change, err = json.Marshal(req); err != nil {
		return api.PendingResponse{}, err
	}
	if err := s.cfg.State.PutPending(ctx, p); err != nil {
		return api.PendingResponse{}, err
	}
	return api.PendingResponse{Status: api.StatusPending, Project: c.Project, ID: id, Expires: p.Expires,
		SignaturesValid: len(res.Sigs.Valid), Threshold: res.Sigs.Threshold}, nil
}

func toAPI(p store.PendingChange) api.PendingChange {
	out := api.PendingChange{ID: p.ID, Project: p.Project, Created: p.Created, Expires: p.Expires, Change: p.Change, Files: []api.PendingFile{}}
	for _, f := range p.Files {
		out.Files = append(out.Files, api.PendingFile{Path: f.Path, SHA256: f.SHA256, Length: f.Length})
	}
	return out
}

func (s *Server) handleListPending(w http.ResponseWriter, r *http.Request) {
	project := ""
	if name := r.PathValue("project"); name != "" {
		var err error
		if project, err = layout.ParseProjectName(name); err != nil {
			writeError(w, http.StatusBadRequest, "bad_name", err.Error(), "")
			return
		}
	}
	list, err := s.cfg.State.ListPending(r.Context(), project)
	if err != nil {
		s.cfg.Log.Error("failed to list pending changes", "err", err)
		writeError(w, http.StatusInternalServerError, "internal", "failed to list pending changes", "")
		return
	}
	out := api.PendingList{Note: api.UnverifiedNote, Pending: []api.PendingChange{}}
	now := s.cfg.Now()
	for _, p := range list {
		if p.Expires.After(now) {
			a := toAPI(p)
			a.Superseded = s.superseded(r.Context(), p)
			out.Pending = append(out.Pending, a)
		}
	}
	writeJSON(w, http.StatusOK, out)
}

// handleSign adds signatures to a pending change and publishes it if its
// thresholds are now met.
func (s *Server) handleSign(w http.ResponseWriter, r *http.Request) {
	project, err := layout.ParseProjectName(r.PathValue("project"))
	if err != nil {
		writeError(w, http.StatusBadRequest, "bad_name", err.Error(), "")
		return
	}
	var sreq api.SignaturesRequest
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err == nil {
		err = api.DecodeStrict(body, &sreq)
	}
	if err != nil {
		writeError(w, http.StatusBadRequest, "bad_request", "the signatures are not valid JSON: "+err.Error(), "")
		return
	}
	id := r.PathValue("id")
	p, err := s.cfg.State.Pending(r.Context(), id)
	if errors.Is(err, store.ErrNotFound) || (err == nil && (p.Project != project || !p.Expires.After(s.cfg.Now()))) {
		writeError(w, http.StatusNotFound, "not_found", fmt.Sprintf("no pending change %s for project %s (it may have been published, expired or dropped)", id, project), "list what is pending with 'hallmark pending "+project+"'")
		return
	}
	if err != nil {
		writeError(w, http.StatusInternalServerError, "internal", "failed to read the pending change", "")
		return
	}
	var req api.ChangeRequest
	if err := json.Unmarshal(p.Change, &req); err != nil {
		writeError(w, http.StatusInternalServerError, "internal", "the pending change is corrupt", "")
		return
	}
	for _, add := range []struct {
		raw  *json.RawMessage
		sigs []metadata.Signature
		name string
	}{{&req.OwnersRole, sreq.OwnersRole, "owners_role"}, {&req.ReleasesRole, sreq.ReleasesRole, "releases_role"}} {
		if len(add.sigs) == 0 {
			continue
		}
		if len(*add.raw) == 0 {
			writeError(w, http.StatusBadRequest, "bad_request", fmt.Sprintf("the pending change has no %s to sign", add.name), "")
			return
		}
		md, err := tufmeta.Decode[metadata.TargetsType](*add.raw)
		if err != nil {
			writeError(w, http.StatusInternalServerError, "internal", "the pending change is corrupt", "")
			return
		}
		for _, sig := range add.sigs {
			md.Signatures = append(dropKey(md.Signatures, sig.KeyID), metadata.Signature{KeyID: sig.KeyID, Signature: sig.Signature})
		}
		b, err := tufmeta.Encode(md)
		if err != nil {
			writeError(w, http.StatusInternalServerError, "internal", "failed to encode the change", "")
			return
		}
		*add.raw = b
	}
	files := map[string]publish.Staged{}
	for _, f := range p.Files {
		blobPath := store.PendingBlobPath(p.ID, f.SHA256)
		files[f.Path] = publish.Staged{SHA256: f.SHA256, Length: f.Length, Open: func() (io.ReadCloser, error) {
			return s.cfg.Blobs.Open(context.WithoutCancel(r.Context()), blobPath)
		}}
	}
	u := &upload{req: req, files: files}
	change, status, code, err := s.buildChange(u, project)
	if err != nil {
		writeError(w, status, code, err.Error(), "")
		return
	}
	res, err := s.cfg.Publisher.Submit(r.Context(), change)
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, "unavailable", "the server could not publish the change; nothing was published", "try again later")
		return
	}
	var conflict *validation.Conflict
	switch {
	case res.Outcome == validation.Accept:
		s.dropPending(r.Context(), p)
	case res.Outcome == validation.Pending:
		p.Change, _ = json.Marshal(req)
		if err := s.cfg.State.PutPending(r.Context(), p); err != nil {
			writeError(w, http.StatusInternalServerError, "internal", "failed to store the signature", "")
			return
		}
		writeJSON(w, http.StatusAccepted, api.PendingResponse{Status: api.StatusPending, Project: project, ID: p.ID, Expires: p.Expires,
			SignaturesValid: len(res.Sigs.Valid), Threshold: res.Sigs.Threshold})
		return
	case errors.As(res.Reason, &conflict):
		// It can never apply any more: someone published first. It stays
		// listed as superseded until it expires, for its author to see.
		writeJSON(w, http.StatusConflict, api.ErrorResponse{Error: api.Error{Code: "conflict",
			Message: "the pending change no longer applies (it is superseded): " + conflict.Error(),
			Hint:    "another change was published first; the change's author can sign it again on top of the new state with 'hallmark pending resign " + project + " " + p.ID + "'", CurrentVersion: conflict.Current}})
		return
	}
	s.writeResult(w, change, res)
}

func dropKey(sigs []metadata.Signature, id string) []metadata.Signature {
	out := sigs[:0]
	for _, s := range sigs {
		if s.KeyID != id {
			out = append(out, s)
		}
	}
	return out
}

func (s *Server) dropPending(ctx context.Context, p store.PendingChange) {
	if err := s.cfg.State.DeletePending(ctx, p.ID); err != nil {
		s.cfg.Log.Warn("failed to drop a pending change", "id", p.ID, "err", err)
	}
	for _, f := range p.Files {
		s.cfg.Blobs.Delete(ctx, store.PendingBlobPath(p.ID, f.SHA256))
	}
}

// CleanUp drops expired pending changes with their staged files, and
// removes staging files left by a crash. It returns how many pending
// changes it dropped.
func (s *Server) CleanUp(ctx context.Context) (int, error) {
	list, err := s.cfg.State.ListPending(ctx, "")
	if err != nil {
		return 0, err
	}
	now := s.cfg.Now()
	n := 0
	for _, p := range list {
		if !p.Expires.After(now) {
			s.dropPending(ctx, p)
			n++
		}
	}
	entries, _ := os.ReadDir(s.cfg.StagingDir)
	for _, e := range entries {
		if info, err := e.Info(); err == nil && now.Sub(info.ModTime()) > 24*time.Hour {
			os.Remove(filepath.Join(s.cfg.StagingDir, e.Name()))
		}
	}
	return n, nil
}

// RunCleanUp calls CleanUp every interval until ctx is done.
func (s *Server) RunCleanUp(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if n, err := s.CleanUp(ctx); err != nil && ctx.Err() == nil {
			s.cfg.Log.Error("clean-up failed", "err", err)
		} else if n > 0 {
			s.cfg.Log.Info("dropped expired pending changes", "count", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// handlePendingFile serves a staged file of a pending change, so co-signers
// can check what they are asked to sign (the project index above all).
func (s *Server) handlePendingFile(w http.ResponseWriter, r *http.Request) {
	project, err := layout.ParseProjectName(r.PathValue("project"))
	if err != nil {
		writeError(w, http.StatusBadRequest, "bad_name", err.Error(), "")
		return
	}
	p, err := s.cfg.State.Pending(r.Context(), r.PathValue("id"))
	if err != nil || p.Project != project || !p.Expires.After(s.cfg.Now()) {
		writeError(w, http.StatusNotFound, "not_found", "no such pending change (it may have been published, expired or dropped)", "")
		return
	}
	sum := r.PathValue("sha256")
	for _, f := range p.Files {
		if f.SHA256 == sum {
			b, err := s.cfg.Blobs.Open(r.Context(), store.PendingBlobPath(p.ID, sum))
			if err != nil {
				writeError(w, http.StatusNotFound, "not_found", "the staged file is gone", "")
				return
			}
			defer b.Close()
			w.Header().Set("Content-Type", "application/octet-stream")
			http.ServeContent(w, r, "", b.ModTime(), b)
			return
		}
	}
	writeError(w, http.StatusNotFound, "not_found", "no such file in the pending change", "")
}

// superseded reports whether a change published after p changed a role p
// changes: p builds on a version that is no longer the published one.
func (s *Server) superseded(ctx context.Context, p store.PendingChange) bool {
	var req api.ChangeRequest
	if json.Unmarshal(p.Change, &req) != nil {
		return false
	}
	pr, err := s.cfg.State.Project(ctx, p.Project)
	if err != nil {
		return false
	}
	for role, raw := range map[string]json.RawMessage{layout.OwnersRole(p.Project): req.OwnersRole, layout.ReleasesRole(p.Project): req.ReleasesRole} {
		if len(raw) == 0 {
			continue
		}
		md, err := tufmeta.Decode[metadata.TargetsType](raw)
		if err != nil {
			continue
		}
		if cur, err := s.cfg.State.Role(ctx, pr.Shard, role); err == nil && md.Signed.Version <= cur.Version {
			return true
		}
	}
	return false
}

// changeKey identifies a change by the signed parts of its roles, whatever
// signatures they carry.
func changeKey(c *publish.Change) string {
	h := sha256.New()
	for _, md := range []*tufmeta.Targets{c.OwnersRole, c.ReleasesRole} {
		if md == nil {
			h.Write([]byte("-"))
			continue
		}
		b, _ := tufmeta.Canonical(md)
		h.Write(b)
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil))
}

func pendingKey(req api.ChangeRequest) string {
	c := &publish.Change{}
	for _, r := range []struct {
		raw json.RawMessage
		dst **tufmeta.Targets
	}{{req.OwnersRole, &c.OwnersRole}, {req.ReleasesRole, &c.ReleasesRole}} {
		if len(r.raw) > 0 {
			md, err := tufmeta.Decode[metadata.TargetsType](r.raw)
			if err != nil {
				return ""
			}
			*r.dst = md
		}
	}
	return changeKey(c)
}
