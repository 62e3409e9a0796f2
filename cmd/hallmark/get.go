package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"hallmark.dev/hallmark/client"
	"hallmark.dev/hallmark/explain"
	"hallmark.dev/hallmark/layout"
)

func newVersionsCmd(e *env) *cobra.Command {
	var asJSON bool
	c := &cobra.Command{
		Use:   "versions PROJECT",
		Short: "List a project's versions, newest first",
		Args:  exactArgs(1, "versions PROJECT [--json]"),
		RunE: func(c *cobra.Command, args []string) error {
			_, p, err := verifiedProject(c.Context(), e, args[0])
			if err != nil {
				return err
			}
			vs := p.Index.Versions()
			latest, _ := p.Index.Latest()
			if asJSON {
				type row struct {
					Version      string             `json:"version"`
					Latest       bool               `json:"latest"`
					Prerelease   bool               `json:"prerelease"`
					Yanked       bool               `json:"yanked"`
					YankedReason string             `json:"yanked_reason,omitempty"`
					Files        []layout.FileEntry `json:"files"`
				}
				rows := []row{}
				for _, v := range vs {
					r, _ := p.Index.Release(v)
					pv, _ := layout.ParseVersion(v)
					rows = append(rows, row{v, latest != nil && latest.Version == v, pv.IsPrerelease(), r.Yanked, r.YankedReason, r.Files})
				}
				return printJSON(e, map[string]any{"project": p.Name, "claimed": p.Claimed, "versions": rows})
			}
			if !p.Claimed {
				fmt.Fprintln(e.stderr, explain.Unclaimed(p.Name))
			}
			if len(vs) == 0 {
				fmt.Fprintf(e.stderr, "%s has no releases yet\n", p.Name)
			}
			for _, v := range vs {
				r, _ := p.Index.Release(v)
				line := v
				if r.Yanked {
					line += "\t(yanked"
					if r.YankedReason != "" {
						line += ": " + r.YankedReason
					}
					line += ")"
				}
				fmt.Fprintln(e.stdout, line)
			}
			return nil
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	c.Flags().DurationVar(&e.timeout, "timeout", client.DefaultTimeout, "how long to wait for the repository to connect and to start each answer")
	return c
}

func newGetCmd(e *env) *cobra.Command {
	var out, file string
	var overwrite bool
	c := &cobra.Command{
		Use:   "get PROJECT[@VERSION]",
		Short: "Download and verify a release",
		Long: `Download every file of a release into a directory (the current one by default),
verifying each against the project's signed metadata. Without @VERSION, the latest
release that is neither a pre-release nor yanked.`,
		Args: exactArgs(1, "get PROJECT[@VERSION] [-o DIR] [--file NAME]"),
		RunE: func(c *cobra.Command, args []string) error {
			name, version, _ := strings.Cut(args[0], "@")
			cl, p, err := verifiedProject(c.Context(), e, name)
			if err != nil {
				return err
			}
			var rel *layout.Release
			if version == "" {
				rel, err = p.Index.Latest()
				if errors.Is(err, layout.ErrNoLatest) {
					return withHint(fmt.Errorf("%s has no release to pick as latest (none, or only pre-releases and yanked ones)", p.Name), "name a version: hallmark get "+p.Name+"@VERSION (see 'hallmark versions "+p.Name+"')")
				}
			} else {
				var ok bool
				if rel, ok = p.Index.Release(version); !ok {
					return withHint(fmt.Errorf("%s has no version %s", p.Name, version), "see 'hallmark versions "+p.Name+"'")
				}
			}
			if !p.Claimed {
				fmt.Fprintln(e.stderr, explain.Unclaimed(p.Name))
			}
			if version == "" {
				fmt.Fprintf(e.stderr, "picked %s %s, the latest release (for another one: hallmark get %s@VERSION)\n", p.Name, rel.Version, p.Name)
			}
			if rel.Yanked {
				fmt.Fprintf(e.stderr, "warning: %s %s is yanked: %s\n", p.Name, rel.Version, orDefault(rel.YankedReason, "no reason given"))
			}
			files := rel.Files
			if file != "" {
				files = nil
				for _, f := range rel.Files {
					if f.Name == file {
						files = append(files, f)
					}
				}
				if files == nil {
					var names []string
					for _, f := range rel.Files {
						names = append(names, f.Name)
					}
					return withHint(fmt.Errorf("%s %s has no file %s", p.Name, rel.Version, file), "its files: "+strings.Join(names, ", "))
				}
			}
			// Files already there stay untouched when they are exactly the
			// signed ones; a different file is only replaced when asked.
			var todo []layout.FileEntry
			for _, f := range files {
				dest := filepath.Join(out, f.Name)
				exists, same, err := client.LocalMatches(dest, f.Length, f.SHA256)
				switch {
				case err != nil:
					return err
				case same:
					fmt.Fprintf(e.stderr, "%s is already there and matches the signed file\n", dest)
					continue
				case exists && !overwrite:
					return withHint(fmt.Errorf("refusing to overwrite %s: it differs from the signed file of %s %s", dest, p.Name, rel.Version), "move it away, choose another directory with -o DIR, or pass --overwrite to replace it")
				}
				todo = append(todo, f)
			}
			files = todo
			if err := os.MkdirAll(out, 0o755); err != nil {
				return err
			}
			// Every file is verified into a private directory first and moved
			// into place only when all of them verified, so a refused file
			// leaves nothing of the release behind.
			tmp, err := os.MkdirTemp(out, ".hallmark-get-*")
			if err != nil {
				return err
			}
			defer os.RemoveAll(tmp)
			for _, f := range files {
				bar := newProgress(e, f.Name)
				err := cl.Download(c.Context(), p, rel.Version, f.Name, filepath.Join(tmp, f.Name), bar.update)
				bar.done()
				if err != nil {
					return explainRead(err, name)
				}
			}
			for _, f := range files {
				dest := filepath.Join(out, f.Name)
				if err := os.Rename(filepath.Join(tmp, f.Name), dest); err != nil {
					return err
				}
				fmt.Fprintf(e.stderr, "verified %s (%s, sha256:%s)\n", dest, explain.Size(f.Length), f.SHA256[:16])
			}
			return nil
		},
	}
	c.Flags().StringVarP(&out, "output", "o", ".", "directory to save the files in")
	c.Flags().StringVar(&file, "file", "", "download only this file of the release")
	c.Flags().BoolVar(&overwrite, "overwrite", false, "replace existing files that differ from the signed ones")
	c.Flags().DurationVar(&e.timeout, "timeout", client.DefaultTimeout, "how long to wait for the repository to connect and to start each answer")
	return c
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}
