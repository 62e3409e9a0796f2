package main

import (
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"hallmark.dev/hallmark/client"
	"hallmark.dev/hallmark/explain"
	"hallmark.dev/hallmark/layout"
	"hallmark.dev/hallmark/maintainer"
	"hallmark.dev/hallmark/tufmeta"
)

// keyView is a key as `project show` prints it.
type keyView struct {
	KeyID string `json:"keyid"`
	Label string `json:"label,omitempty"`
}

// projectView is the verified state of a project, for people and scripts.
type projectView struct {
	Project string `json:"project"`
	Shard   string `json:"shard"`
	Claimed bool   `json:"claimed"`
	Latest  string `json:"latest,omitempty"`
	// Meta is what the project says about itself, signed by its
	// maintainers in the index.
	Meta     *layout.ProjectMeta `json:"meta,omitempty"`
	Releases []struct {
		layout.Release
		Prerelease bool `json:"prerelease"`
	} `json:"releases"`
	Owners            []keyView     `json:"owners"`
	OwnersThreshold   int           `json:"owners_threshold"`
	Maintainers       []keyView     `json:"maintainers"`
	ReleasesThreshold int           `json:"releases_threshold"`
	OwnersExpires     time.Time     `json:"owners_role_expires"`
	ReleasesExpires   time.Time     `json:"releases_role_expires"`
	Pending           []pendingView `json:"pending"`
}

type pendingView struct {
	ID      string    `json:"id"`
	Changes []string  `json:"changes"`
	Signers []string  `json:"signed_by"`
	Expires time.Time `json:"expires"`
}

func viewOf(p *client.Project) projectView {
	v := projectView{Project: p.Name, Shard: p.Shard, Claimed: p.Claimed,
		OwnersExpires: p.OwnersRole.Signed.Expires, ReleasesExpires: p.ReleasesRole.Signed.Expires, Meta: p.Index.Meta}
	if l, err := p.Index.Latest(); err == nil {
		v.Latest = l.Version
	}
	for _, ver := range p.Index.Versions() {
		r, _ := p.Index.Release(ver)
		pv, _ := layout.ParseVersion(ver)
		v.Releases = append(v.Releases, struct {
			layout.Release
			Prerelease bool `json:"prerelease"`
		}{*r, pv.IsPrerelease()})
	}
	labels := tufmeta.Labels(p.OwnersRole)
	for _, id := range p.Owners.KeyIDs {
		v.Owners = append(v.Owners, keyView{id, labels[id]})
	}
	v.OwnersThreshold = p.Owners.Threshold
	if d, _, err := tufmeta.TargetsDelegation(p.OwnersRole, layout.ReleasesRole(p.Name)); err == nil {
		for _, id := range d.KeyIDs {
			v.Maintainers = append(v.Maintainers, keyView{id, labels[id]})
		}
		v.ReleasesThreshold = d.Threshold
	}
	v.Pending = []pendingView{}
	return v
}

func newShowCmd(e *env) *cobra.Command {
	var asJSON bool
	c := &cobra.Command{
		Use:   "show PROJECT",
		Short: "Show a project's verified state in plain words",
		Args:  exactArgs(1, "project show PROJECT [--json]"),
		RunE: func(c *cobra.Command, args []string) error {
			cl, p, err := verifiedProject(c.Context(), e, args[0])
			if err != nil {
				return err
			}
			v := viewOf(p)
			t := &maintainer.Tool{Client: cl}
			pend, refused, err := t.ListPending(c.Context(), p.Name)
			if err != nil {
				fmt.Fprintf(e.stderr, "warning: could not list pending changes: %v\n", err)
			}
			for _, x := range pend {
				v.Pending = append(v.Pending, pendingView{x.ID, x.Lines, x.Signers, x.Expires})
			}
			for _, r := range refused {
				fmt.Fprintf(e.stderr, "warning: pending change %s does not verify and is not shown: %v\n", r.ID, r.Reason)
			}
			expiryWarnings(e, p.Name, p.Settings.Expiry, map[string]time.Time{
				layout.OwnersRole(p.Name): v.OwnersExpires, layout.ReleasesRole(p.Name): v.ReleasesExpires,
			})
			if asJSON {
				return printJSON(e, v)
			}
			printProject(e, v)
			return nil
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return c
}

func printProject(e *env, v projectView) {
	w := e.stdout
	status := "not claimed yet: until the repository's admins claim it, the server's online key could take it over"
	if v.Claimed {
		status = "claimed: only its owners and the repository's offline keys can change who signs for it"
	}
	fmt.Fprintf(w, "%s (shard %s)\n  %s\n", v.Project, v.Shard, status)
	if v.Latest != "" {
		fmt.Fprintf(w, "  latest: %s   get it with: hallmark get %s\n", v.Latest, v.Project)
	}
	if m := v.Meta; m != nil {
		fmt.Fprintf(w, "\nabout (as its maintainers signed it):\n")
		for _, f := range [][2]string{{"description", m.Description}, {"homepage", m.Homepage}, {"repository", m.Repository}, {"licence", m.License}} {
			if f[1] != "" {
				fmt.Fprintf(w, "  %-12s %s\n", f[0], f[1])
			}
		}
		if m.Readme != "" {
			fmt.Fprintf(w, "  readme       %d line(s); --json prints it\n", strings.Count(m.Readme, "\n")+1)
		}
	}
	fmt.Fprintf(w, "\nreleases:\n")
	if len(v.Releases) == 0 {
		fmt.Fprintf(w, "  none yet\n")
	}
	for _, r := range v.Releases {
		note := ""
		if r.Prerelease {
			note += "  (pre-release)"
		}
		if r.Yanked {
			note += fmt.Sprintf("  (yanked: %s)", orDefault(r.YankedReason, "no reason given"))
		}
		if r.Uploaded != "" {
			note += "  uploaded " + r.Uploaded
		}
		fmt.Fprintf(w, "  %s%s\n", r.Version, note)
		for _, f := range r.Files {
			fmt.Fprintf(w, "    %-40s %10s  sha256:%s\n", f.Name, explain.Size(f.Length), f.SHA256)
		}
	}
	fmt.Fprintf(w, "\nowners (%d of %d must sign owner changes):\n", v.OwnersThreshold, len(v.Owners))
	for _, k := range v.Owners {
		fmt.Fprintf(w, "  %-8.8s  %s\n", k.KeyID, orDefault(k.Label, "(no label)"))
	}
	fmt.Fprintf(w, "maintainers (%d of %d must sign releases):\n", v.ReleasesThreshold, len(v.Maintainers))
	for _, k := range v.Maintainers {
		fmt.Fprintf(w, "  %-8.8s  %s\n", k.KeyID, orDefault(k.Label, "(no label)"))
	}
	fmt.Fprintf(w, "\npending changes:\n")
	if len(v.Pending) == 0 {
		fmt.Fprintf(w, "  none\n")
	}
	for _, p := range v.Pending {
		fmt.Fprintf(w, "  %s (signed by %d key(s), expires %s)\n", p.ID, len(p.Signers), p.Expires.Format(time.DateOnly))
		for _, l := range p.Changes {
			fmt.Fprintf(w, "    - %s\n", l)
		}
	}
	fmt.Fprintf(w, "\nmetadata expires:\n  owners role   %s\n  releases role %s\n", v.OwnersExpires.Format(time.DateOnly), v.ReleasesExpires.Format(time.DateOnly))
}
