package tufview

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"maps"
	"slices"
	"strings"
)

// Repo is a loaded repository: its files linked into the delegation graph,
// with every role's signatures checked against every role that delegates it.
type Repo struct {
	// Source names where the files came from.
	Source string
	files  map[string]*File
	// parents lists, for each role, the roles that delegate it, in the
	// order they were found (the first one is its place in the tree).
	parents  map[string][]string
	verdicts map[string][]Verdict
	problems map[string][]string
	// Problems are the repository's problems not tied to one role.
	Problems []string
	reached  map[string]bool
	labels   map[string]string
}

// Build links files into a repository. problems are the loader's.
func Build(source string, files []*File, problems []string) *Repo {
	r := &Repo{Source: source, files: map[string]*File{}, parents: map[string][]string{},
		verdicts: map[string][]Verdict{}, problems: map[string][]string{}, Problems: problems,
		reached: map[string]bool{}, labels: map[string]string{}}
	for _, f := range files {
		r.files[f.Role] = f
		for id, l := range hallmarkLabels(f) {
			r.labels[id] = l
		}
	}
	root, ok := r.files[TypeRoot]
	if !ok || root.root == nil {
		r.Problems = append(r.Problems, "no root metadata: nothing can be checked")
		return r
	}
	// Breadth first from root, so each role's first parent is the
	// shallowest role that delegates it.
	r.reached[TypeRoot] = true
	r.parents[TypeRoot] = []string{TypeRoot}
	queue := []string{TypeRoot}
	for len(queue) > 0 {
		name := queue[0]
		queue = queue[1:]
		f := r.files[name]
		for _, d := range f.Delegations(r.has) {
			if d.Role == TypeRoot {
				continue
			}
			if !slices.Contains(r.parents[d.Role], name) {
				r.parents[d.Role] = append(r.parents[d.Role], name)
			}
			if _, ok := r.files[d.Role]; ok && !r.reached[d.Role] {
				r.reached[d.Role] = true
				queue = append(queue, d.Role)
			}
		}
	}
	for name, f := range r.files {
		for _, p := range r.parents[name] {
			r.verdicts[name] = append(r.verdicts[name], Verify(f, r.files[p]))
		}
	}
	r.checkSnapshots()
	return r
}

func (r *Repo) has(role string) bool { _, ok := r.files[role]; return ok }

// hallmarkLabels reads the key labels a Hallmark owners role records.
func hallmarkLabels(f *File) map[string]string {
	out := map[string]string{}
	if m, ok := f.unrecognized()["x-hallmark-labels"].(map[string]any); ok {
		for id, l := range m {
			if s, ok := l.(string); ok {
				out[id] = s
			}
		}
	}
	return out
}

// checkSnapshots compares what timestamp and snapshot list with the files.
func (r *Repo) checkSnapshots() {
	ts, snap := r.files[TypeTimestamp], r.files[TypeSnapshot]
	if ts != nil && ts.timestamp != nil && snap != nil {
		if m := ts.timestamp.Signed.Meta["snapshot.json"]; m != nil {
			switch {
			case m.Version != snap.Version():
				r.note(TypeSnapshot, fmt.Sprintf("timestamp names snapshot version %d; this is version %d", m.Version, snap.Version()))
			case m.Length != 0 || len(m.Hashes) > 0:
				if err := m.VerifyLengthHashes(snap.Raw); err != nil {
					r.note(TypeSnapshot, "its length or hash differs from what timestamp lists: "+err.Error())
				}
			}
		}
	}
	if snap == nil || snap.snapshot == nil {
		return
	}
	listed := map[string]bool{}
	for file, m := range snap.snapshot.Signed.Meta {
		role := strings.TrimSuffix(file, ".json")
		listed[role] = true
		f, ok := r.files[role]
		switch {
		case !ok:
			r.Problems = append(r.Problems, fmt.Sprintf("snapshot lists %s version %d, which was not found", role, m.Version))
		case f.Version() != m.Version:
			r.note(role, fmt.Sprintf("snapshot lists version %d; this is version %d", m.Version, f.Version()))
		}
	}
	for name, f := range r.files {
		if f.Type == TypeTargets && !listed[name] {
			r.note(name, "snapshot does not list this role: clients will not load it")
		}
	}
}

func (r *Repo) note(role, msg string) { r.problems[role] = append(r.problems[role], msg) }

// Roles lists the role names, in tree order, then the unreached ones.
func (r *Repo) Roles() []string {
	var out []string
	seen := map[string]bool{}
	var walk func(string)
	walk = func(name string) {
		if seen[name] || r.files[name] == nil {
			return
		}
		seen[name] = true
		out = append(out, name)
		for _, c := range r.children(name) {
			walk(c)
		}
	}
	walk(TypeRoot)
	for _, name := range slices.Sorted(maps.Keys(r.files)) {
		if !seen[name] {
			out = append(out, name)
		}
	}
	return out
}

// children lists the roles whose place in the tree is below name.
func (r *Repo) children(name string) []string {
	f := r.files[name]
	if f == nil {
		return nil
	}
	var out []string
	for _, d := range f.Delegations(r.has) {
		if d.Role != TypeRoot && len(r.parents[d.Role]) > 0 && r.parents[d.Role][0] == name && !slices.Contains(out, d.Role) {
			out = append(out, d.Role)
		}
	}
	return out
}

// Verified reports whether a role's file verified against every role that
// delegates it.
func (r *Repo) Verified(role string) bool {
	vs := r.verdicts[role]
	for _, v := range vs {
		if !v.Verified() {
			return false
		}
	}
	return len(vs) > 0
}

// path is the chain from root to role's first parent.
func (r *Repo) path(role string) []string {
	var out []string
	seen := map[string]bool{role: true}
	for p := r.firstParent(role); p != "" && !seen[p]; p = r.firstParent(p) {
		seen[p] = true
		out = append(out, p)
		if p == TypeRoot {
			break
		}
	}
	slices.Reverse(out)
	return out
}

func (r *Repo) firstParent(role string) string {
	if ps := r.parents[role]; len(ps) > 0 && !(role == TypeRoot) {
		return ps[0]
	}
	return ""
}

// RoleView builds the page of one role.
func (r *Repo) RoleView(role string, o Options) (RoleView, bool) {
	f, ok := r.files[role]
	if !ok {
		return RoleView{}, false
	}
	if o.Labels == nil {
		o.Labels = r.labels
	}
	if o.ChildStatus == nil {
		o.ChildStatus = func(c string) (bool, bool) { return r.Verified(c), r.has(c) }
	}
	problems := slices.Clone(r.problems[role])
	if !r.reached[role] {
		problems = append(problems, "no role in the delegation tree delegates this role")
	}
	return NewRoleView(f, r.verdicts[role], r.path(role), problems, o), true
}

// TreeNode is a role in the delegation tree.
type TreeNode struct {
	Role    Link   `json:"role"`
	Type    string `json:"type,omitempty"`
	Version int64  `json:"version,omitempty"`
	Expires Expiry `json:"expires"`
	// Status is "verified", "failed" or "missing" (delegated, no file).
	Status string `json:"status"`
	Class  string `json:"class"`
	// Also names the other roles that delegate this one.
	Also     []Link     `json:"also_delegated_by,omitempty"`
	Children []TreeNode `json:"children,omitempty"`
	// Hidden counts children left out to keep the page small.
	Hidden int `json:"hidden,omitempty"`
}

// IndexView is the repository's index page.
type IndexView struct {
	Source    string   `json:"source"`
	Generated string   `json:"generated"`
	Tree      TreeNode `json:"tree"`
	Roles     int      `json:"roles"`
	Verified  int      `json:"verified"`
	Failed    []Link   `json:"failed"`
	// FailedCount is len(Failed).
	FailedCount int        `json:"failed_count"`
	Unreached   []Link     `json:"unreached"`
	Problems    []string   `json:"problems"`
	Expiring    []RoleLine `json:"expiring"`
}

// RoleLine is a role in a list.
type RoleLine struct {
	Role    Link   `json:"role"`
	Expires Expiry `json:"expires"`
}

// Index builds the index page.
func (r *Repo) Index(o Options) IndexView {
	o.defaults()
	v := IndexView{Source: r.Source, Generated: o.Now.UTC().Format("2006-01-02 15:04 UTC"), Roles: len(r.files),
		Problems: slices.Clone(r.Problems)}
	for _, role := range slices.Sorted(maps.Keys(r.problems)) {
		for _, p := range r.problems[role] {
			v.Problems = append(v.Problems, role+": "+p)
		}
	}
	for _, name := range r.Roles() {
		f := r.files[name]
		link := Link{Name: name, Href: o.Links.Role(name)}
		switch {
		case !r.reached[name]:
			v.Unreached = append(v.Unreached, link)
		case r.Verified(name):
			v.Verified++
		default:
			v.Failed = append(v.Failed, link)
		}
		if e := NewExpiry(f.Expires(), o.Now, o.Warn(name)); e.Class != "ok" {
			v.Expiring = append(v.Expiring, RoleLine{Role: link, Expires: e})
		}
	}
	v.FailedCount = len(v.Failed)
	v.Tree = r.node(TypeRoot, map[string]bool{}, o)
	return v
}

func (r *Repo) node(name string, seen map[string]bool, o Options) TreeNode {
	n := TreeNode{Role: Link{Name: name, Href: o.Links.Role(name)}}
	f, ok := r.files[name]
	if !ok {
		n.Role.Href = ""
		n.Status, n.Class = "missing", "warn"
		return n
	}
	seen[name] = true
	n.Type, n.Version = f.Type, f.Version()
	n.Expires = NewExpiry(f.Expires(), o.Now, o.Warn(name))
	if r.Verified(name) {
		n.Status, n.Class = "verified", "ok"
	} else {
		n.Status, n.Class = "failed", "bad"
	}
	for _, p := range r.parents[name][min(1, len(r.parents[name])):] {
		if name != TypeRoot {
			n.Also = append(n.Also, Link{Name: p, Href: o.Links.Role(p)})
		}
	}
	for i, d := range f.Delegations(r.has) {
		if d.Role == TypeRoot || seen[d.Role] {
			continue
		}
		if i >= o.MaxRows {
			n.Hidden++
			continue
		}
		if !r.has(d.Role) {
			n.Children = append(n.Children, r.node(d.Role, seen, o))
			continue
		}
		if ps := r.parents[d.Role]; len(ps) > 0 && ps[0] == name {
			n.Children = append(n.Children, r.node(d.Role, seen, o))
		}
	}
	return n
}

// PageName is the file name of a role's page in a static site: the role
// name when it is a plain file name, otherwise a name derived from its hash
// (role names in TUF may hold any character).
func PageName(role string) string {
	plain := role != "" && role != "index" && !strings.HasPrefix(role, ".")
	for _, c := range role {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			plain = false
		}
	}
	if plain && len(role) <= 200 {
		return role + ".html"
	}
	return "_" + hex.EncodeToString([]byte(shortHash(role))) + ".html"
}

func shortHash(s string) string {
	sum := sha256.Sum256([]byte(s))
	return string(sum[:10])
}
