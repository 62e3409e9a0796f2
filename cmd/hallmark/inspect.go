package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"hallmark.dev/hallmark/layout"
	"hallmark.dev/hallmark/trust"
	"hallmark.dev/hallmark/tufview"
)

// inspectOptions are the flags of `hallmark inspect`.
type inspectOptions struct {
	out    string
	shard  string
	asJSON bool
}

func newInspectCmd(e *env) *cobra.Command {
	o := &inspectOptions{}
	c := &cobra.Command{
		Use:   "inspect DIR|URL -o OUTDIR",
		Short: "Render any TUF repository as static HTML pages",
		Long: `Render the metadata of a TUF repository as static HTML: one page per role
(its signed fields in readable form, its signatures and whether each verifies
against the role that delegates it, its place in the delegation tree), and an
index with the tree. Open OUTDIR/index.html in a browser.

DIR is a directory of metadata files (for consistent snapshots, the highest
N.role.json of each role is shown). URL is a metadata base URL, read as a TUF
client would: the newest root, timestamp.json, the snapshot it names and every
role the snapshot lists. A Hallmark repository (a server's URL, its data
directory's blobs/ or blobs/metadata/) is rendered one shard per directory;
pick one with --shard.

Signatures are checked against the delegating roles read from the same place;
compare the root keys with keys you trust before believing the rest.`,
		Args: exactArgs(1, "inspect DIR|URL -o OUTDIR [--shard ID] [--json]"),
		RunE: func(c *cobra.Command, args []string) error {
			if o.out == "" {
				return &usageError{msg: "inspect needs an output directory", hint: "pass -o OUTDIR"}
			}
			return runInspect(c.Context(), e, o, args[0])
		},
	}
	c.Flags().StringVarP(&o.out, "out", "o", "", "directory to write the pages to")
	c.Flags().StringVar(&o.shard, "shard", "", "render only this shard of a Hallmark repository")
	c.Flags().BoolVar(&o.asJSON, "json", false, "print a JSON summary on stdout")
	return c
}

// inspectSummary is what --json prints.
type inspectSummary struct {
	Source string                `json:"source"`
	Out    string                `json:"out"`
	Index  string                `json:"index"`
	Sites  []tufview.SiteSummary `json:"repositories"`
}

// inspectTarget is one TUF repository to render, and where.
type inspectTarget struct {
	name string // shard id, or "" for a plain repository
	src  tufview.Source
}

func runInspect(ctx context.Context, e *env, o *inspectOptions, arg string) error {
	progress := func(s string) { fmt.Fprintln(e.stderr, s) }
	targets, hallmark, err := inspectTargets(ctx, arg, o.shard)
	if err != nil {
		return err
	}
	now := time.Now()
	so := tufview.SiteOptions{Now: now, Progress: progress}
	if hallmark {
		so.Describe, so.Warn = tufview.HallmarkDescribe, tufview.HallmarkWarn(layout.DefaultPolicy())
	}
	sum := inspectSummary{Source: arg, Out: o.out, Index: filepath.Join(o.out, "index.html")}
	var lines []tufview.SiteLine
	for _, t := range targets {
		dir := o.out
		if t.name != "" {
			dir = filepath.Join(o.out, t.name)
			so.Up = "../index.html"
			progress("shard " + t.name + ":")
		}
		files, problems, err := tufview.Load(ctx, t.src, progress)
		if err != nil {
			return withHint(err, "point inspect at a directory of TUF metadata files or at a metadata base URL")
		}
		s, err := tufview.WriteSite(ctx, tufview.Build(t.src.String(), files, problems), dir, so)
		if err != nil {
			return err
		}
		sum.Sites = append(sum.Sites, s)
		lines = append(lines, tufview.SiteLine{Link: tufview.Link{Name: "shard " + t.name, Href: t.name + "/index.html"},
			Roles: s.Roles, Verified: s.Verified, Failed: len(s.Failed), Problems: len(s.Problems)})
		for _, f := range s.Failed {
			fmt.Fprintf(e.stderr, "warning: %s does not verify against the role that delegates it\n", f)
		}
	}
	if len(targets) > 1 || targets[0].name != "" {
		if err := tufview.WriteSiteList(o.out, arg, lines, now); err != nil {
			return err
		}
	}
	if o.asJSON {
		return printJSON(e, sum)
	}
	fmt.Fprintf(e.stderr, "open %s in a browser\n", sum.Index)
	return nil
}

// inspectTargets finds what to render: a Hallmark repository's shards
// (from its URL, blobs/ or blobs/metadata/), or one plain TUF repository.
func inspectTargets(ctx context.Context, arg, only string) ([]inspectTarget, bool, error) {
	isURL := strings.HasPrefix(arg, "http://") || strings.HasPrefix(arg, "https://")
	if !isURL {
		if st, err := os.Stat(arg); err != nil || !st.IsDir() {
			return nil, false, withHint(fmt.Errorf("%s is not a directory or an http(s) URL", arg), "pass a directory of metadata files or a metadata base URL")
		}
	}
	base := strings.TrimSuffix(arg, "/")
	// A Hallmark repository has a trust file naming its shard count.
	for _, metaDir := range []string{base + "/metadata", base} {
		raw, err := fetchTrust(ctx, isURL, metaDir+"/trust.json")
		if err != nil {
			continue
		}
		tf, err := trust.Parse(raw)
		if err != nil {
			return nil, false, fmt.Errorf("%s/trust.json: %w", metaDir, err)
		}
		var out []inspectTarget
		for _, id := range layout.ShardIDs(tf.Shards) {
			if only != "" && id != only {
				continue
			}
			out = append(out, inspectTarget{name: id, src: source(isURL, metaDir+"/"+id)})
		}
		if len(out) == 0 {
			return nil, false, &usageError{msg: fmt.Sprintf("the repository has no shard %q", only), hint: fmt.Sprintf("its %d shard(s) are named like %s", tf.Shards, layout.ShardIDs(tf.Shards)[0])}
		}
		return out, true, nil
	}
	if only != "" {
		return nil, false, &usageError{msg: "--shard is for Hallmark repositories, and " + arg + " has no trust.json", hint: "drop --shard"}
	}
	return []inspectTarget{{src: source(isURL, base)}}, false, nil
}

func source(isURL bool, where string) tufview.Source {
	if isURL {
		return tufview.URL{Base: where + "/", Client: &http.Client{Timeout: time.Minute}}
	}
	return tufview.Dir(where)
}

func fetchTrust(ctx context.Context, isURL bool, where string) ([]byte, error) {
	if !isURL {
		b, err := os.ReadFile(where)
		if err != nil {
			return nil, err
		}
		return b, nil
	}
	dir, name := where[:strings.LastIndexByte(where, '/')], where[strings.LastIndexByte(where, '/')+1:]
	b, err := tufview.URL{Base: dir + "/", Client: &http.Client{Timeout: time.Minute}}.Fetch(ctx, name)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	return b, err
}
