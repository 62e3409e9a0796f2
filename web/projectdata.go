package web

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sync"

	"github.com/theupdateframework/go-tuf/v2/metadata"

	"hallmark.dev/hallmark/layout"
	"hallmark.dev/hallmark/store"
	"hallmark.dev/hallmark/tufmeta"
)

// projectState is what the store says about a project: its record, its two
// roles, its owners as its bin delegates them, its index and its files.
type projectState struct {
	store.Project
	OwnersRF, ReleasesRF store.RoleFile
	Owners, Releases     *tufmeta.Targets
	// Bin is the role that delegates the project; BinDel that delegation.
	Bin      string
	BinDel   tufmeta.Delegation
	BinFound bool
	Index    *layout.Index
	// Problems are inconsistencies found while reading (never expected).
	Problems []string
}

// projectName reads a project name from the URL: a 404 if invalid, a
// redirect if not in normal form.
func projectName(r *http.Request, rest string) (string, error) {
	raw := r.PathValue("project")
	name, err := layout.ParseProjectName(raw)
	if err != nil {
		return "", notFound(err.Error())
	}
	if name != raw {
		return "", &redirect{to: projectHref(name) + rest}
	}
	return name, nil
}

// loadProject reads a project's state from the store.
func (h *Handler) loadProject(ctx context.Context, name string) (*projectState, error) {
	pr, err := h.cfg.State.Project(ctx, name)
	if errors.Is(err, store.ErrNotFound) {
		return nil, notFound(fmt.Sprintf("There is no project %s.", name))
	}
	if err != nil {
		return nil, err
	}
	s := &projectState{Project: pr}
	if s.OwnersRF, s.Owners, err = h.role(ctx, pr.Shard, layout.OwnersRole(name)); err != nil {
		return nil, err
	}
	if s.ReleasesRF, s.Releases, err = h.role(ctx, pr.Shard, layout.ReleasesRole(name)); err != nil {
		return nil, err
	}
	s.Bin = layout.NewRole(pr.Shard)
	if pr.Status == store.StatusClaimed {
		s.Bin = layout.ClaimedRole(pr.Shard)
	}
	s.BinDel, s.BinFound, err = h.bins.delegation(ctx, h.cfg.State, pr.Shard, s.Bin, name)
	if err != nil {
		return nil, err
	}
	if !s.BinFound && !pr.Blocked {
		s.Problems = append(s.Problems, fmt.Sprintf("%s does not delegate this project", s.Bin))
	}
	ix, err := h.index(ctx, name, s.Releases)
	if err != nil {
		s.Problems = append(s.Problems, err.Error())
	}
	s.Index = ix
	return s, nil
}

// role reads and decodes a role's latest version.
func (h *Handler) role(ctx context.Context, shard, role string) (store.RoleFile, *tufmeta.Targets, error) {
	rf, err := h.cfg.State.Role(ctx, shard, role)
	if err != nil {
		return rf, nil, fmt.Errorf("failed to read role %s of shard %s: %w", role, shard, err)
	}
	md, err := tufmeta.Decode[metadata.TargetsType](rf.Data)
	if err != nil {
		return rf, nil, fmt.Errorf("role %s of shard %s: %w", role, shard, err)
	}
	return rf, md, nil
}

// index reads the project index the releases role lists and checks it
// against the role's hash.
func (h *Handler) index(ctx context.Context, project string, releases *tufmeta.Targets) (*layout.Index, error) {
	tf := releases.Signed.Targets[layout.IndexPath(project)]
	if tf == nil {
		return nil, errors.New("the releases role lists no project index")
	}
	sum := hex.EncodeToString(tf.Hashes["sha256"])
	data, err := h.blob(ctx, "targets/"+layout.TargetBlobPath(layout.IndexPath(project), sum), layout.MaxIndexSize)
	if err != nil {
		return nil, fmt.Errorf("failed to read the project index: %w", err)
	}
	if got := sha256.Sum256(data); hex.EncodeToString(got[:]) != sum || int64(len(data)) != tf.Length {
		return nil, errors.New("the stored project index does not match the releases role")
	}
	return layout.ParseIndex(data)
}

// blob reads a whole blob of at most limit bytes.
func (h *Handler) blob(ctx context.Context, path string, limit int64) ([]byte, error) {
	b, err := h.cfg.Blobs.Open(ctx, path)
	if err != nil {
		return nil, err
	}
	defer b.Close()
	data, err := io.ReadAll(io.LimitReader(b, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("%s is larger than %d bytes", path, limit)
	}
	return data, nil
}

// binCache keeps, for each bin, the delegations of its latest version: a
// bin of a large shard is megabytes of JSON, decoded once per version
// instead of once per page.
type binCache struct {
	mu sync.Mutex
	m  map[string]*binEntry
}

type binEntry struct {
	version int64
	dels    map[string]tufmeta.Delegation
}

// maxBins bounds the bins kept; beyond it the cache starts afresh.
const maxBins = 64

// delegation returns the bin's delegation of a project.
func (c *binCache) delegation(ctx context.Context, st store.State, shard, bin, project string) (tufmeta.Delegation, bool, error) {
	e, err := c.load(ctx, st, shard, bin)
	if err != nil || e == nil {
		return tufmeta.Delegation{}, false, err
	}
	d, ok := e.dels[layout.OwnersRole(project)]
	return d, ok, nil
}

// count returns how many roles the bin delegates.
func (c *binCache) count(ctx context.Context, st store.State, shard, bin string) (int, error) {
	e, err := c.load(ctx, st, shard, bin)
	if err != nil || e == nil {
		return 0, err
	}
	return len(e.dels), nil
}

// load returns the bin's latest delegations, nil if it does not exist.
func (c *binCache) load(ctx context.Context, st store.State, shard, bin string) (*binEntry, error) {
	heads, err := st.RoleExpiries(ctx, shard, []string{bin})
	if err != nil || len(heads) == 0 {
		return nil, err
	}
	key := shard + "/" + bin
	c.mu.Lock()
	e := c.m[key]
	c.mu.Unlock()
	if e == nil || e.version != heads[0].Version {
		rf, err := st.Role(ctx, shard, bin)
		if err != nil {
			return nil, err
		}
		md, err := tufmeta.Decode[metadata.TargetsType](rf.Data)
		if err != nil {
			return nil, fmt.Errorf("role %s of shard %s: %w", bin, shard, err)
		}
		e = &binEntry{version: rf.Version, dels: map[string]tufmeta.Delegation{}}
		if d := md.Signed.Delegations; d != nil {
			for _, r := range d.Roles {
				del := tufmeta.Delegation{Keys: map[string]*metadata.Key{}, KeyIDs: r.KeyIDs, Threshold: r.Threshold}
				for _, id := range r.KeyIDs {
					if k, ok := d.Keys[id]; ok {
						del.Keys[id] = k
					}
				}
				e.dels[r.Name] = del
			}
		}
		c.mu.Lock()
		if len(c.m) >= maxBins {
			c.m = map[string]*binEntry{}
		}
		c.m[key] = e
		c.mu.Unlock()
	}
	return e, nil
}

// Links of the pages.

func projectHref(p string) string { return "/p/" + url.PathEscape(p) }

func historyHref(p string) string { return projectHref(p) + "/history" }

func releaseHref(p, v string) string { return projectHref(p) + "/" + url.PathEscape(v) }

func fileHref(p, v, f string) string { return releaseHref(p, v) + "/" + url.PathEscape(f) }

func metaHref(shard, role string) string {
	return "/m/" + url.PathEscape(shard) + "/" + url.PathEscape(role)
}

// downloadHref is where a target's bytes are served.
func downloadHref(targetPath, sha256 string) string {
	return "/" + escapePath("targets/"+layout.TargetBlobPath(targetPath, sha256))
}

func escapePath(p string) string { return (&url.URL{Path: p}).EscapedPath() }
