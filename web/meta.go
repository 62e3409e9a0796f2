package web

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"

	"hallmark.dev/hallmark/layout"
	"hallmark.dev/hallmark/store"
	"hallmark.dev/hallmark/tufmeta"
	"hallmark.dev/hallmark/tufview"
)

// metaPage shows one role of one shard with package tufview: its signed
// fields, its signatures checked against the role that delegates it, and
// its place in the delegation tree.
type metaPage struct {
	Page
	Shard       string           `json:"shard"`
	ShardHref   string           `json:"shard_href"`
	ProjectHref string           `json:"project_href,omitempty"`
	Project     string           `json:"project,omitempty"`
	Role        tufview.RoleView `json:"role"`
}

const metaTmpl = `{{define "meta"}}{{template "header" .Page}}
<p class="crumbs"><a href="/m/">Metadata</a> › <a href="{{.ShardHref}}">shard {{.Shard}}</a>{{if .ProjectHref}} · project <a href="{{.ProjectHref}}">{{.Project}}</a>{{end}}</p>
{{template "tv-role" .Role}}
{{template "footer" .Page}}{{end}}`

// webLinks links roles to the metadata browser, files to where the server
// publishes them.
type webLinks struct{ shard string }

func (l webLinks) Role(name string) string { return metaHref(l.shard, name) }
func (l webLinks) File(name string) string {
	return "/" + escapePath(layout.MetadataBlobPath(l.shard, name))
}
func (l webLinks) Target(path, sha256 string) string { return downloadHref(path, sha256) }

func (h *Handler) meta(r *http.Request) (view, error) {
	ctx := r.Context()
	shard, role := r.PathValue("shard"), r.PathValue("role")
	if !layout.IsShardID(shard, h.cfg.Shards) {
		return view{}, notFound(fmt.Sprintf("This repository has no shard %q.", shard))
	}
	kind, name := layout.ParseRole(role)
	if kind == layout.KindUnknown || ((kind == layout.KindClaimed || kind == layout.KindNew) && name != shard) {
		return view{}, notFound(fmt.Sprintf("Shard %s has no role %q.", shard, role))
	}
	f, err := h.roleFile(ctx, shard, role)
	if err != nil {
		return view{}, err
	}
	path, err := h.rolePath(ctx, shard, role)
	if err != nil {
		return view{}, err
	}
	parent := f
	if len(path) > 0 {
		if parent, err = h.roleFile(ctx, shard, path[len(path)-1]); err != nil {
			return view{}, err
		}
	}
	p := metaPage{Page: h.base(role+" · shard "+shard, r), Shard: shard, ShardHref: "/m/" + shard}
	o := tufview.Options{Links: webLinks{shard}, Now: h.cfg.Now(), Describe: tufview.HallmarkDescribe,
		Warn: tufview.HallmarkWarn(h.policy(r.Context())), Labels: map[string]string{}}
	if kind == layout.KindOwners || kind == layout.KindReleases {
		p.Project, p.ProjectHref = name, projectHref(name)
		if _, owners, err := h.role(ctx, shard, layout.OwnersRole(name)); err == nil {
			o.Labels = tufmeta.Labels(owners)
		}
	}
	p.Role = tufview.NewRoleView(f, []tufview.Verdict{h.verdicts.verify(shard, f, parent)}, path, nil, o)
	return view{template: "meta", data: p}, nil
}

// roleFile reads a role's latest version as a tufview file.
func (h *Handler) roleFile(ctx context.Context, shard, role string) (*tufview.File, error) {
	if role == layout.RoleTimestamp {
		// The served timestamp, with the witnesses' signatures: the store
		// keeps it as the online key signed it.
		if f, err := h.servedTimestamp(ctx, shard); err == nil {
			return f, nil
		}
	}
	rf, err := h.cfg.State.Role(ctx, shard, role)
	if errors.Is(err, store.ErrNotFound) {
		return nil, notFound(fmt.Sprintf("Shard %s has no role %s.", shard, role))
	}
	if err != nil {
		return nil, err
	}
	return tufview.Parse(role, layout.MetadataFile(role, rf.Version), rf.Data)
}

// rolePath is the chain of delegating roles from root to the role's parent,
// by Hallmark's layout: root → targets → bin → owners → releases.
func (h *Handler) rolePath(ctx context.Context, shard, role string) ([]string, error) {
	kind, name := layout.ParseRole(role)
	switch kind {
	case layout.KindTopLevel:
		if role == layout.RoleRoot {
			return nil, nil
		}
		return []string{layout.RoleRoot}, nil
	case layout.KindClaimed, layout.KindNew:
		return []string{layout.RoleRoot, layout.RoleTargets}, nil
	}
	bin := layout.NewRole(shard)
	pr, err := h.cfg.State.Project(ctx, name)
	switch {
	case err == nil && pr.Status == store.StatusClaimed:
		bin = layout.ClaimedRole(shard)
	case err != nil && !errors.Is(err, store.ErrNotFound):
		return nil, err
	}
	path := []string{layout.RoleRoot, layout.RoleTargets, bin}
	if kind == layout.KindReleases {
		path = append(path, layout.OwnersRole(name))
	}
	return path, nil
}

// verdictCache keeps signature checks: a role's version never changes, so
// the check of one version against one version of its delegating role holds
// for good. Checking a large bin means encoding megabytes of canonical
// JSON; the cache makes it once per version.
type verdictCache struct {
	mu sync.Mutex
	m  map[string]tufview.Verdict
}

// maxVerdicts bounds the cache; beyond it the cache starts afresh.
const maxVerdicts = 4096

func (c *verdictCache) verify(shard string, f, parent *tufview.File) tufview.Verdict {
	key := fmt.Sprintf("%s|%s|%d|%s|%d", shard, f.Role, f.Version(), parent.Role, parent.Version())
	c.mu.Lock()
	v, ok := c.m[key]
	c.mu.Unlock()
	if ok {
		return v
	}
	v = tufview.Verify(f, parent)
	c.mu.Lock()
	if c.m == nil || len(c.m) >= maxVerdicts {
		c.m = map[string]tufview.Verdict{}
	}
	c.m[key] = v
	c.mu.Unlock()
	return v
}

// servedTimestamp reads the timestamp.json a shard serves.
func (h *Handler) servedTimestamp(ctx context.Context, shard string) (*tufview.File, error) {
	name := layout.MetadataFile(layout.RoleTimestamp, 0)
	b, err := h.cfg.Blobs.Open(ctx, layout.MetadataBlobPath(shard, name))
	if err != nil {
		return nil, err
	}
	defer b.Close()
	data, err := io.ReadAll(io.LimitReader(b, 1<<20))
	if err != nil {
		return nil, err
	}
	return tufview.Parse(layout.RoleTimestamp, name, data)
}
