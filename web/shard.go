package web

import (
	"fmt"
	"net/http"

	"hallmark.dev/hallmark/layout"
	"hallmark.dev/hallmark/tufview"
)

// shardPage shows a shard's infrastructure roles as a tree, each checked
// against the role that delegates it, and the list of shards.
type shardPage struct {
	Page
	Shard  string           `json:"shard"`
	Tree   tufview.TreeNode `json:"tree"`
	Bins   []binLine        `json:"bins"`
	Shards []tufview.Link   `json:"shards,omitempty"`
}

// binLine says how many projects a bin delegates.
type binLine struct {
	Role     tufview.Link `json:"role"`
	Projects int          `json:"projects"`
}

const shardTmpl = `{{define "shard"}}{{template "header" .Page}}
{{if .Shards}}
<h1>Metadata</h1>
<p class="muted">Each shard is a complete, standard TUF repository. A project's shard is given by a hash of its name; its project page links to it.</p>
<ul class="plain">{{range .Shards}}<li>{{template "tv-link" .}}</li>{{end}}</ul>
{{else}}
<p class="crumbs"><a href="/m/">Metadata</a> › shard {{.Shard}}</p>
<h1>Shard {{.Shard}}</h1>
<p class="muted">A complete TUF repository: metadata at <code>/metadata/{{.Shard}}/</code>, targets at <code>/targets/</code>. Each role is checked against the role that delegates it.</p>
{{template "tv-tree" .Tree}}
<h2>Projects</h2>
<ul class="plain">{{range .Bins}}<li>{{template "tv-link" .Role}} delegates {{.Projects}} project(s)</li>{{end}}</ul>
{{end}}
{{template "footer" .Page}}{{end}}`

func (h *Handler) shards(r *http.Request) (view, error) {
	ids := layout.ShardIDs(h.cfg.Shards)
	if len(ids) == 1 {
		return view{}, &redirect{to: "/m/" + ids[0]}
	}
	p := shardPage{Page: h.base("Metadata", r), Bins: []binLine{}}
	for _, id := range ids {
		p.Shards = append(p.Shards, tufview.Link{Name: "shard " + id, Href: "/m/" + id})
	}
	return view{template: "shard", data: p}, nil
}

func (h *Handler) shard(r *http.Request) (view, error) {
	ctx := r.Context()
	shard := r.PathValue("shard")
	if !layout.IsShardID(shard, h.cfg.Shards) {
		return view{}, notFound(fmt.Sprintf("This repository has no shard %q.", shard))
	}
	now := h.cfg.Now()
	warn := tufview.HallmarkWarn(h.policy(r.Context()))
	node := func(role, parent string) (tufview.TreeNode, error) {
		n := tufview.TreeNode{Role: tufview.Link{Name: role, Href: metaHref(shard, role)}}
		f, err := h.roleFile(ctx, shard, role)
		if err != nil {
			n.Status, n.Class = "missing", "bad"
			return n, nil
		}
		p, err := h.roleFile(ctx, shard, parent)
		if err != nil {
			return n, err
		}
		n.Type, n.Version, n.Expires = f.Type, f.Version(), tufview.NewExpiry(f.Expires(), now, warn(role))
		n.Status, n.Class = "signature check failed", "bad"
		if h.verdicts.verify(shard, f, p).Verified() {
			n.Status, n.Class = "verified", "ok"
		}
		return n, nil
	}
	tree, err := node(layout.RoleRoot, layout.RoleRoot)
	if err != nil {
		return view{}, err
	}
	for _, role := range []string{layout.RoleTimestamp, layout.RoleSnapshot, layout.RoleTargets} {
		n, err := node(role, layout.RoleRoot)
		if err != nil {
			return view{}, err
		}
		tree.Children = append(tree.Children, n)
	}
	p := shardPage{Page: h.base("Shard "+shard, r), Shard: shard, Bins: []binLine{}}
	for _, bin := range []string{layout.ClaimedRole(shard), layout.NewRole(shard)} {
		n, err := node(bin, layout.RoleTargets)
		if err != nil {
			return view{}, err
		}
		tree.Children[2].Children = append(tree.Children[2].Children, n)
		count, err := h.bins.count(ctx, h.cfg.State, shard, bin)
		if err != nil {
			return view{}, err
		}
		p.Bins = append(p.Bins, binLine{Role: n.Role, Projects: count})
	}
	p.Tree = tree
	return view{template: "shard", data: p}, nil
}
