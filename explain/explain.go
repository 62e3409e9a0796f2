// Package explain says in plain words what a change to a project does:
// "add release 1.4.0: 2 files, 3.1 MiB", "add maintainer bob (3f2a1b2c)",
// "releases threshold 1 → 2". Maintainers read these lines before they sign
// and before they approve another maintainer's change, so they never have to
// read metadata. The package does no I/O.
package explain

import (
	"crypto/sha256"
	"fmt"
	"slices"
	"strings"
	"time"

	"hallmark.dev/hallmark/layout"
	"hallmark.dev/hallmark/tufmeta"
)

// State is a project's state on one side of a change. Any field may be nil
// (a project being created has no old state).
type State struct {
	Project string
	// Owners is the owner set: the bin's delegation, or the one an owners
	// role declares.
	Owners       *tufmeta.Delegation
	OwnersRole   *tufmeta.Targets
	ReleasesRole *tufmeta.Targets
	Index        *layout.Index
}

// namer returns how a key is shown: labels the published state (old)
// records are shown as names; a label only the change itself gives is shown
// as a claim, since whoever made the change chose it.
func namer(old, new State) func(id string) string {
	known, claimed := map[string]string{}, map[string]string{}
	if old.OwnersRole != nil {
		known = tufmeta.Labels(old.OwnersRole)
	}
	if new.OwnersRole != nil {
		claimed = tufmeta.Labels(new.OwnersRole)
	}
	return func(id string) string {
		if l := known[id]; l != "" {
			return fmt.Sprintf("%s (%s)", l, short(id))
		}
		if l := claimed[id]; l != "" && old.OwnersRole != nil {
			return fmt.Sprintf("key %s (labelled %q by this change)", short(id), l)
		}
		if l := claimed[id]; l != "" {
			return fmt.Sprintf("%s (%s)", l, short(id))
		}
		return "key " + short(id)
	}
}

// Signers names the keys (by id) that have signed a change from old to
// new, one line each: the label and the full key id, so a co-signer can
// compare it with what the signer gave them ('hallmark key export').
func Signers(old, new State, ids []string) []string {
	name := namer(old, new)
	lines := make([]string, 0, len(ids))
	for _, id := range ids {
		lines = append(lines, name(id)+", key id "+id)
	}
	return lines
}

// Change returns one line per effect of going from old to new, in a stable
// order: owners, maintainers, thresholds, releases, files, yanks, renewals.
func Change(old, new State) []string {
	name := namer(old, new)
	var lines []string
	if old.Owners != nil && new.Owners != nil {
		lines = append(lines, keyDiff("owner", *old.Owners, *new.Owners, name)...)
	}
	oldM, okOld := maintainers(old)
	newM, okNew := maintainers(new)
	if okOld && okNew {
		lines = append(lines, keyDiff("maintainer", oldM, newM, name)...)
	} else if okNew && !okOld {
		for _, id := range newM.KeyIDs {
			lines = append(lines, "maintainer "+name(id))
		}
		lines = append(lines, fmt.Sprintf("releases threshold %d", newM.Threshold))
	}
	lines = append(lines, indexDiff(old.Index, new.Index)...)
	if len(lines) == 0 {
		for _, r := range []struct {
			what     string
			old, new *tufmeta.Targets
		}{{"owners role", old.OwnersRole, new.OwnersRole}, {"releases role", old.ReleasesRole, new.ReleasesRole}} {
			if r.new != nil && (r.old == nil || r.new.Signed.Version != r.old.Signed.Version) {
				lines = append(lines, fmt.Sprintf("renew the %s: valid until %s", r.what, r.new.Signed.Expires.UTC().Format(time.DateOnly)))
			}
		}
	}
	return lines
}

func maintainers(s State) (tufmeta.Delegation, bool) {
	if s.OwnersRole == nil {
		return tufmeta.Delegation{}, false
	}
	d, _, err := tufmeta.TargetsDelegation(s.OwnersRole, layout.ReleasesRole(s.Project))
	return d, err == nil
}

func keyDiff(what string, old, new tufmeta.Delegation, name func(string) string) []string {
	var lines []string
	for _, id := range new.KeyIDs {
		if !slices.Contains(old.KeyIDs, id) {
			lines = append(lines, "add "+what+" "+name(id)+", key id "+id)
		}
	}
	for _, id := range old.KeyIDs {
		if !slices.Contains(new.KeyIDs, id) {
			lines = append(lines, "remove "+what+" "+name(id)+", key id "+id)
		}
	}
	if old.Threshold != new.Threshold {
		kind := "releases"
		if what == "owner" {
			kind = "owners"
		}
		lines = append(lines, fmt.Sprintf("%s threshold %d → %d (signatures needed to change %s)", kind, old.Threshold, new.Threshold, map[string]string{"owners": "owners and maintainers", "releases": "releases"}[kind]))
	}
	return lines
}

func indexDiff(old, new *layout.Index) []string {
	if new == nil {
		return nil
	}
	if old == nil {
		old = &layout.Index{}
	}
	var lines []string
	for _, v := range new.Versions() {
		nr, _ := new.Release(v)
		or, existed := old.Release(v)
		if !existed {
			lines = append(lines, fmt.Sprintf("add release %s: %s", v, files(nr.Files)))
			for _, f := range nr.Files {
				lines = append(lines, fileLine(v, f))
			}
			if nr.Yanked {
				lines = append(lines, fmt.Sprintf("yank release %s: %s", v, reason(nr.YankedReason)))
			}
			continue
		}
		for _, f := range nr.Files {
			if !slices.ContainsFunc(or.Files, func(o layout.FileEntry) bool { return o.Name == f.Name }) {
				lines = append(lines, fmt.Sprintf("add file %s to release %s: %s, sha256 %s", f.Name, v, size(f.Length), f.SHA256))
			}
		}
		for _, f := range or.Files {
			if !slices.ContainsFunc(nr.Files, func(n layout.FileEntry) bool { return n.Name == f.Name }) {
				lines = append(lines, fmt.Sprintf("remove file %s from release %s: %s, sha256 %s (its name can never be used again with other content)", f.Name, v, size(f.Length), f.SHA256))
			}
		}
		switch {
		case nr.Yanked && !or.Yanked:
			lines = append(lines, fmt.Sprintf("yank release %s: %s", v, reason(nr.YankedReason)))
		case !nr.Yanked && or.Yanked:
			lines = append(lines, fmt.Sprintf("unyank release %s", v))
		case nr.Yanked && nr.YankedReason != or.YankedReason:
			lines = append(lines, fmt.Sprintf("change the yank reason of %s: %s", v, reason(nr.YankedReason)))
		}
	}
	lines = append(lines, metaDiff(old.Meta, new.Meta)...)
	for _, v := range old.Versions() {
		if _, still := new.Release(v); !still {
			or, _ := old.Release(v)
			lines = append(lines, fmt.Sprintf("remove release %s and its %d file(s) (their names can never be used again with other content)", v, len(or.Files)))
			for _, f := range or.Files {
				lines = append(lines, fileLine(v, f))
			}
		}
	}
	return lines
}

// fileLine shows one file of a release added or removed whole: its name,
// size and full sha256, which is what the signature covers.
func fileLine(version string, f layout.FileEntry) string {
	return fmt.Sprintf("file %s of %s: %s, sha256 %s", f.Name, version, size(f.Length), f.SHA256)
}

func reason(r string) string {
	if r == "" {
		return "no reason given"
	}
	return fmt.Sprintf("%q", r)
}

func files(fs []layout.FileEntry) string {
	var total int64
	for _, f := range fs {
		total += f.Length
	}
	return fmt.Sprintf("%d file(s), %s", len(fs), size(total))
}

func short(id string) string {
	if len(id) > 8 {
		return id[:8]
	}
	return id
}

// size formats a byte count for people.
func size(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// Size formats a byte count for people ("3.1 MiB").
func Size(n int64) string { return size(n) }

// Unclaimed says what a downloader should know about a project the
// repository's admins have not claimed yet.
func Unclaimed(project string) string {
	return fmt.Sprintf("note: %s is not claimed yet by the repository's admins; until they claim it, it is only as safe as the repository server's online key (whoever holds that key could hand the project to someone else)", project)
}

// Duration formats a span for people: "365 days", "1 day", "5 hours",
// "12 minutes", "less than a minute"; a negative span is said as "… ago".
func Duration(d time.Duration) string {
	if d < 0 {
		return Duration(-d) + " ago"
	}
	plural := func(n int64, unit string) string {
		if n == 1 {
			return "1 " + unit
		}
		return fmt.Sprintf("%d %ss", n, unit)
	}
	switch {
	case d >= 48*time.Hour:
		return plural(int64(d/(24*time.Hour)), "day")
	case d >= 2*time.Hour:
		return plural(int64(d/time.Hour), "hour")
	case d >= time.Minute:
		return plural(int64(d/time.Minute), "minute")
	}
	return "less than a minute"
}

// metaDiff explains a change of what a project says about itself.
func metaDiff(old, new *layout.ProjectMeta) []string {
	var o, n layout.ProjectMeta
	if old != nil {
		o = *old
	}
	if new != nil {
		n = *new
	}
	var lines []string
	for _, f := range []struct{ what, o, n string }{
		{"description", o.Description, n.Description}, {"homepage", o.Homepage, n.Homepage},
		{"repository link", o.Repository, n.Repository}, {"licence", o.License, n.License},
	} {
		switch {
		case f.o == f.n:
		case f.n == "":
			lines = append(lines, fmt.Sprintf("remove the %s (was %q)", f.what, f.o))
		default:
			lines = append(lines, fmt.Sprintf("set the %s to %q", f.what, f.n))
		}
	}
	switch {
	case o.Readme == n.Readme:
	case n.Readme == "":
		lines = append(lines, "remove the README")
	default:
		sum := sha256.Sum256([]byte(n.Readme))
		lines = append(lines, fmt.Sprintf("set the README: %d line(s), %s, sha256 %x", strings.Count(n.Readme, "\n")+1, size(int64(len(n.Readme))), sum))
	}
	return lines
}
