package server

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"os"
	"path/filepath"

	"github.com/theupdateframework/go-tuf/v2/metadata"

	"hallmark.dev/hallmark/api"
	"hallmark.dev/hallmark/layout"
	"hallmark.dev/hallmark/publish"
	"hallmark.dev/hallmark/store"
	"hallmark.dev/hallmark/tufmeta"
	"hallmark.dev/hallmark/validation"
)

// errStaging marks a failure of the server's own disk while staging.
var errStaging = errors.New("failed to stage upload")

// writeError answers with the API's error form.
func writeError(w http.ResponseWriter, status int, code, msg, hint string) {
	writeJSON(w, status, api.ErrorResponse{Error: api.Error{Code: code, Message: msg, Hint: hint}})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func (s *Server) handleCreate(w http.ResponseWriter, r *http.Request) {
	if s.cfg.SharedState {
		s.loadSettings(r.Context())
	}
	if !s.checkRegistration(w, r) {
		return
	}
	s.handleWrite(w, r, "")
}

func (s *Server) handleChange(w http.ResponseWriter, r *http.Request) {
	s.handleWrite(w, r, r.PathValue("project"))
}

// upload is a parsed write request with its staged files.
type upload struct {
	s     *Server
	req   api.ChangeRequest
	files map[string]publish.Staged
	paths []string // staged file paths on disk, removed after the request
	mem   int64    // bytes of the staging memory budget it holds
}

func (u *upload) cleanup() {
	for _, p := range u.paths {
		os.Remove(p)
	}
	u.s.stagedMem.Add(-u.mem)
}

// Files up to stageInMemory bytes are staged in memory while the server has
// stageMemoryBudget bytes to spare (most release files are small, and a
// staging file costs a create, a write and an unlink per upload); larger
// files, and everything beyond the budget, go to the staging directory.
const (
	stageInMemory     = 256 << 10
	stageMemoryBudget = 64 << 20
)

func (s *Server) handleWrite(w http.ResponseWriter, r *http.Request, pathProject string) {
	if r.ContentLength > s.cfg.MaxUpload {
		// Refuse at once what would be refused after reading MaxUpload bytes.
		s.writeBodyError(w, &http.MaxBytesError{Limit: s.cfg.MaxUpload}, s.cfg.MaxUpload, "split the release or ask the operator to raise --max-upload")
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, s.cfg.MaxUpload)
	u, status, code, err := s.readUpload(r)
	if u != nil {
		defer u.cleanup()
	}
	if err != nil {
		if !s.writeBodyError(w, err, s.cfg.MaxUpload, "split the release or ask the operator to raise --max-upload") {
			writeError(w, status, code, err.Error(), "")
		}
		return
	}
	change, status, code, err := s.buildChange(u, pathProject)
	if err != nil {
		writeError(w, status, code, err.Error(), "")
		return
	}
	if change.Create && !s.checkConfusable(r.Context(), w, change.Project, change.Display) {
		return
	}
	res, err := s.submit(r.Context(), change)
	if err != nil {
		s.cfg.Log.Error("publish failed", "project", change.Project, "err", err)
		writeError(w, http.StatusServiceUnavailable, "unavailable", "the server could not publish the change; nothing was published", "try again later")
		return
	}
	if res.Outcome == validation.Pending {
		if change.Create {
			writeError(w, http.StatusUnprocessableEntity, "needs_signatures", "creating a project needs every signature at once", "")
			return
		}
		out, err := s.keepPending(r.Context(), u, change, res)
		if errors.Is(err, errTooManyPending) {
			writeError(w, http.StatusTooManyRequests, "too_many_pending", fmt.Sprintf("%s has %d pending changes already; approve or let some expire first", change.Project, MaxPendingPerProject), "list them with 'hallmark pending "+change.Project+" --all'")
			return
		}
		if err != nil {
			s.cfg.Log.Error("failed to keep a pending change", "project", change.Project, "err", err)
			writeError(w, http.StatusInternalServerError, "internal", "failed to keep the pending change; nothing was published", "try again later")
			return
		}
		writeJSON(w, http.StatusAccepted, out)
		return
	}
	s.writeResult(w, change, res)
}

func (s *Server) writeResult(w http.ResponseWriter, c *publish.Change, res publish.Result) {
	out := api.ChangeResponse{Project: c.Project, Shard: res.Shard, SignaturesValid: len(res.Sigs.Valid), Threshold: res.Sigs.Threshold}
	switch res.Outcome {
	case validation.Accept:
		out.Status = api.StatusPublished
		out.SnapshotVersion = res.SnapshotVersion
		out.Waiting = res.Waiting
		status := http.StatusOK
		if c.Create {
			status = http.StatusCreated
		}
		writeJSON(w, status, out)
	default:
		var conflict *validation.Conflict
		var rej *validation.Rejected
		switch {
		case errors.As(res.Reason, &conflict):
			writeJSON(w, http.StatusConflict, api.ErrorResponse{Error: api.Error{Code: "conflict", Message: conflict.Error(),
				Hint: "another change was published first; fetch the current state and try again", CurrentVersion: conflict.Current}})
		case errors.As(res.Reason, &rej) && rej.Code == validation.RejectExists:
			writeError(w, http.StatusConflict, "exists", rej.Msg, "")
		case errors.As(res.Reason, &rej) && rej.Code == validation.RejectNotFound:
			writeError(w, http.StatusNotFound, "not_found", rej.Msg, "")
		case errors.As(res.Reason, &rej):
			writeError(w, http.StatusUnprocessableEntity, "rejected", rej.Msg, "")
		default:
			s.cfg.Log.Error("change failed", "project", c.Project, "err", res.Reason)
			writeError(w, http.StatusInternalServerError, "internal", "the server failed to process the change; nothing was published", "try again later")
		}
	}
}

// readUpload parses the multipart body: a "change" part first, then one part
// per file, named by its target path. Files are streamed to the staging
// directory and hashed on the way.
func (s *Server) readUpload(r *http.Request) (*upload, int, string, error) {
	mt, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/form-data" || params["boundary"] == "" {
		return nil, http.StatusUnsupportedMediaType, "bad_request", errors.New("the request must be multipart/form-data with a \"change\" part followed by the files")
	}
	mr := multipart.NewReader(r.Body, params["boundary"])
	u := &upload{s: s, files: map[string]publish.Staged{}}
	first := true
	var total int64
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			return u, http.StatusBadRequest, "bad_request", fmt.Errorf("malformed multipart body: %w", err)
		}
		name := part.FormName()
		if first {
			if name != "change" {
				return u, http.StatusBadRequest, "bad_request", errors.New("the first part must be \"change\", the signed metadata")
			}
			data, err := io.ReadAll(io.LimitReader(part, 4*tufmeta.MaxRoleSize+1))
			if err != nil {
				return u, http.StatusBadRequest, "bad_request", fmt.Errorf("malformed multipart body: %w", err)
			}
			if len(data) > 4*tufmeta.MaxRoleSize {
				return u, http.StatusRequestEntityTooLarge, "too_large", fmt.Errorf("the change is over %d bytes", 4*tufmeta.MaxRoleSize)
			}
			if err := api.DecodeStrict(data, &u.req); err != nil {
				return u, http.StatusBadRequest, "bad_request", fmt.Errorf("the change is not valid JSON: %w", err)
			}
			first = false
			continue
		}
		if _, err := layout.ParseTargetPath(name); err != nil {
			return u, http.StatusBadRequest, "bad_path", fmt.Errorf("uploaded file: %w", err)
		}
		if _, dup := u.files[name]; dup {
			return u, http.StatusBadRequest, "bad_request", fmt.Errorf("file %s is uploaded twice", name)
		}
		set := s.settings()
		st, path, err := s.stage(u, io.LimitReader(part, set.MaxFileSize+1))
		if path != "" {
			u.paths = append(u.paths, path)
		}
		var tooBig *http.MaxBytesError
		switch {
		case err == nil && st.Length > set.MaxFileSize:
			return u, http.StatusRequestEntityTooLarge, "too_large", fmt.Errorf("file %s is larger than the repository's limit of %d bytes per file", name, set.MaxFileSize)
		case errors.As(err, &tooBig):
			return u, http.StatusRequestEntityTooLarge, "too_large", err
		case errors.Is(err, errStaging):
			s.cfg.Log.Error("failed to stage an upload", "err", err)
			return u, http.StatusInternalServerError, "internal", errors.New("the server failed to store the upload; nothing was published")
		case err != nil:
			return u, http.StatusBadRequest, "bad_request", err
		}
		u.files[name] = st
		total += st.Length
		if total > s.settings().MaxReleaseSize {
			return u, http.StatusRequestEntityTooLarge, "too_large", fmt.Errorf("the upload is larger than the repository's limit of %d bytes per release", s.settings().MaxReleaseSize)
		}
	}
	if first {
		return u, http.StatusBadRequest, "bad_request", errors.New("the request has no \"change\" part")
	}
	return u, 0, "", nil
}

func (s *Server) stage(u *upload, part io.Reader) (publish.Staged, string, error) {
	// Reserve the most a file staged in memory may take, then keep what
	// it does take, or nothing.
	fits := s.stagedMem.Add(stageInMemory) <= stageMemoryBudget
	var head []byte
	var err error
	if fits {
		head, err = io.ReadAll(io.LimitReader(part, stageInMemory+1))
	}
	if fits && err == nil && len(head) <= stageInMemory {
		s.stagedMem.Add(int64(len(head)) - stageInMemory)
		u.mem += int64(len(head))
		sum := sha256.Sum256(head)
		return publish.Staged{
			Open:   func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(head)), nil },
			SHA256: hex.EncodeToString(sum[:]), Length: int64(len(head)),
		}, "", nil
	}
	s.stagedMem.Add(-stageInMemory)
	if err != nil {
		return publish.Staged{}, "", fmt.Errorf("failed to receive upload: %w", err)
	}
	// Too large for memory: what was read, then the rest, to disk.
	h := sha256.New()
	var rnd [12]byte
	rand.Read(rnd[:])
	path := filepath.Join(s.cfg.StagingDir, hex.EncodeToString(rnd[:]))
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return publish.Staged{}, "", fmt.Errorf("%w: %v", errStaging, err)
	}
	n, err := io.Copy(io.MultiWriter(h, f), io.MultiReader(bytes.NewReader(head), part))
	if cerr := f.Close(); err == nil && cerr != nil {
		return publish.Staged{}, path, fmt.Errorf("%w: %v", errStaging, cerr)
	}
	if err != nil {
		return publish.Staged{}, path, fmt.Errorf("failed to receive upload: %w", err)
	}
	return publish.Staged{
		Open:   func() (io.ReadCloser, error) { return os.Open(path) },
		SHA256: hex.EncodeToString(h.Sum(nil)), Length: n,
	}, path, nil
}

// buildChange decodes the signed roles of a request into a publish.Change.
func (s *Server) buildChange(u *upload, pathProject string) (*publish.Change, int, string, error) {
	req := u.req
	create := pathProject == ""
	name := req.Project
	if !create {
		name = pathProject
	}
	project, err := layout.ParseProjectName(name)
	if err != nil {
		return nil, http.StatusBadRequest, "bad_name", err
	}
	if create && s.settings().IsReserved(project) {
		return nil, http.StatusBadRequest, "bad_name", fmt.Errorf("project name %q is reserved by the repository's admins; choose another name", name)
	}
	if !create && req.Project != "" && layout.Normalize(req.Project) != project {
		return nil, http.StatusBadRequest, "bad_request", fmt.Errorf("the change names project %q but was sent to %q", req.Project, pathProject)
	}
	c := &publish.Change{Project: project, Create: create, Display: name, Files: u.files}
	decode := func(raw json.RawMessage, what string) (*tufmeta.Targets, error) {
		if len(raw) == 0 || string(raw) == "null" {
			return nil, nil
		}
		md, err := tufmeta.Decode[metadata.TargetsType](raw)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
		return md, nil
	}
	if c.OwnersRole, err = decode(req.OwnersRole, "owners_role"); err != nil {
		return nil, http.StatusBadRequest, "bad_metadata", err
	}
	if c.ReleasesRole, err = decode(req.ReleasesRole, "releases_role"); err != nil {
		return nil, http.StatusBadRequest, "bad_metadata", err
	}
	if create {
		if req.Owners == nil {
			return nil, http.StatusBadRequest, "bad_request", errors.New("creating a project needs \"owners\": the owner keys and threshold")
		}
		c.Owners = tufmeta.Delegation{Keys: req.Owners.Keys, KeyIDs: req.Owners.KeyIDs, Threshold: req.Owners.Threshold}
	} else if req.Owners != nil {
		return nil, http.StatusBadRequest, "bad_request", errors.New("\"owners\" is only for creating a project; owner changes are signed into the owners role")
	}
	for path := range u.files {
		tp, _ := layout.ParseTargetPath(path)
		if tp.Project != project {
			return nil, http.StatusBadRequest, "bad_path", fmt.Errorf("uploaded file %s lies outside project %s", path, project)
		}
	}
	return c, 0, "", nil
}

// handleProject answers with the server's (unverified) view of a project.
func (s *Server) handleProject(w http.ResponseWriter, r *http.Request) {
	project, err := layout.ParseProjectName(r.PathValue("project"))
	if err != nil {
		writeError(w, http.StatusBadRequest, "bad_name", err.Error(), "")
		return
	}
	pr, err := s.cfg.State.Project(r.Context(), project)
	if errors.Is(err, store.ErrNotFound) {
		writeError(w, http.StatusNotFound, "not_found", fmt.Sprintf("project %s does not exist", project), "")
		return
	}
	if err != nil {
		writeError(w, http.StatusInternalServerError, "internal", "failed to read the project", "")
		return
	}
	out := api.ProjectResponse{Note: api.UnverifiedNote, Name: pr.Name, Display: pr.Display, Shard: pr.Shard, Status: pr.Status, Created: pr.Created,
		Blocked: pr.Blocked, BlockReason: pr.BlockReason}
	for _, role := range []string{layout.OwnersRole(project), layout.ReleasesRole(project)} {
		if rf, err := s.cfg.State.Role(r.Context(), pr.Shard, role); err == nil {
			out.Roles = append(out.Roles, api.RoleVersion{Role: role, Version: rf.Version, Expires: rf.Expires})
		}
	}
	writeJSON(w, http.StatusOK, out)
}
