package tufview

import (
	"encoding/hex"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/theupdateframework/go-tuf/v2/metadata"

	"hallmark.dev/hallmark/explain"
)

// Linker makes the links of the pages: a static site links to files beside
// it, a server to its own routes. An empty string means "no link".
type Linker interface {
	// Role is the page of a role.
	Role(name string) string
	// File is the raw metadata file.
	File(name string) string
	// Target is a target file, given its path and sha256.
	Target(path, sha256 string) string
}

// Options shape a role page.
type Options struct {
	Links Linker
	// Now is the time expiries are shown against.
	Now time.Time
	// Labels are people's names for key ids (unverified text, shown beside ids).
	Labels map[string]string
	// Describe says in a few words what a role is ("" when unknown).
	Describe func(role string) string
	// Warn is how long before its expiry a role is shown as expiring soon.
	Warn func(role string) time.Duration
	// ChildStatus reports the verification of a delegated role, when known.
	ChildStatus func(role string) (verified, known bool)
	// MaxRows caps the rows of target and delegation tables (default 1000).
	MaxRows int
	// MaxRawJSON caps the size of a file shown inline (default 256 KiB).
	MaxRawJSON int
}

func (o *Options) defaults() {
	if o.Links == nil {
		o.Links = noLinks{}
	}
	if o.Now.IsZero() {
		o.Now = time.Now()
	}
	if o.Warn == nil {
		o.Warn = DefaultWarn
	}
	if o.MaxRows <= 0 {
		o.MaxRows = 1000
	}
	if o.MaxRawJSON <= 0 {
		o.MaxRawJSON = 256 << 10
	}
}

// DefaultWarn warns six hours before a timestamp expires, a day before a
// snapshot does and two weeks before any other role.
func DefaultWarn(role string) time.Duration {
	switch role {
	case TypeTimestamp:
		return 6 * time.Hour
	case TypeSnapshot:
		return 24 * time.Hour
	}
	return 14 * 24 * time.Hour
}

type noLinks struct{}

func (noLinks) Role(string) string           { return "" }
func (noLinks) File(string) string           { return "" }
func (noLinks) Target(string, string) string { return "" }

// Link is a name with an optional link.
type Link struct {
	Name string `json:"name"`
	Href string `json:"href,omitempty"`
}

// Expiry is an expiry time as people read it.
type Expiry struct {
	Time time.Time `json:"time"`
	// Text is the absolute time, Rel the time from now ("in 3 days",
	// "expired 2 hours ago").
	Text string `json:"text"`
	Rel  string `json:"relative"`
	// Class is "ok", "warn" (inside the warning window) or "bad" (expired).
	Class string `json:"class"`
}

// NewExpiry describes t as seen at now, warning within warn of it.
func NewExpiry(t, now time.Time, warn time.Duration) Expiry {
	e := Expiry{Time: t, Text: t.UTC().Format("2006-01-02 15:04 UTC"), Class: "ok"}
	switch d := t.Sub(now); {
	case d <= 0:
		e.Rel, e.Class = "expired "+Duration(-d)+" ago", "bad"
	case d <= warn:
		e.Rel, e.Class = "expires in "+Duration(d), "warn"
	default:
		e.Rel = "expires in " + Duration(d)
	}
	return e
}

// Duration formats a duration roughly, for people: "3 days", "5 hours".
func Duration(d time.Duration) string {
	unit := func(n int64, s string) string {
		if n == 1 {
			return "1 " + s
		}
		return fmt.Sprintf("%d %ss", n, s)
	}
	switch {
	case d >= 48*time.Hour:
		return unit(int64(d/(24*time.Hour)), "day")
	case d >= time.Hour:
		return unit(int64(d/time.Hour), "hour")
	case d >= time.Minute:
		return unit(int64(d/time.Minute), "minute")
	}
	return unit(int64(d/time.Second), "second")
}

// KeyRef is a key named by a role, with its holder's label when known.
type KeyRef struct {
	ID    string `json:"keyid"`
	Short string `json:"short"`
	Label string `json:"label,omitempty"`
}

// KeyView is a public key as a delegating role lists it.
type KeyView struct {
	KeyRef
	Type   string `json:"keytype"`
	Scheme string `json:"scheme"`
	Public string `json:"public"`
}

// SigView is one key's part in a signature check.
type SigView struct {
	KeyRef
	// Status is "valid", "invalid", "not signed" or "not a key of this role".
	Status string `json:"status"`
	Class  string `json:"class"`
}

// CheckView is a role's signatures checked against one delegating role.
type CheckView struct {
	Parent    Link      `json:"parent"`
	Verified  bool      `json:"verified"`
	Threshold int       `json:"threshold"`
	Valid     int       `json:"valid"`
	Summary   string    `json:"summary"`
	Class     string    `json:"class"`
	Sigs      []SigView `json:"signatures"`
}

// DelegationView is one delegation a role makes.
type DelegationView struct {
	Role             Link     `json:"role"`
	Keys             []KeyRef `json:"keys"`
	Threshold        int      `json:"threshold"`
	Terminating      bool     `json:"terminating"`
	Paths            []string `json:"paths,omitempty"`
	PathHashPrefixes []string `json:"path_hash_prefixes,omitempty"`
	Succinct         bool     `json:"succinct,omitempty"`
	// Status is the delegated role's verification when known: "verified",
	// "failed" or "missing"; "" when not checked.
	Status string `json:"status,omitempty"`
	Class  string `json:"class,omitempty"`
}

// HashView is one hash of a file.
type HashView struct {
	Alg string `json:"alg"`
	Hex string `json:"hex"`
}

// MetaView is one file a timestamp or snapshot lists.
type MetaView struct {
	File    string     `json:"file"`
	Role    Link       `json:"role"`
	Version int64      `json:"version"`
	Length  int64      `json:"length,omitempty"`
	Hashes  []HashView `json:"hashes,omitempty"`
}

// TargetView is one target a targets role lists.
type TargetView struct {
	Path   string     `json:"path"`
	Href   string     `json:"href,omitempty"`
	Length int64      `json:"length"`
	Size   string     `json:"size"`
	Hashes []HashView `json:"hashes"`
	Custom string     `json:"custom,omitempty"`
}

// FieldView is a signed field TUF does not define, as indented JSON.
type FieldView struct {
	Name string `json:"name"`
	JSON string `json:"json"`
}

// RoleView is everything a role's page shows.
type RoleView struct {
	Name        string `json:"name"`
	Type        string `json:"type"`
	About       string `json:"about,omitempty"`
	Version     int64  `json:"version"`
	SpecVersion string `json:"spec_version"`
	Expires     Expiry `json:"expires"`
	File        Link   `json:"file"`
	Size        int    `json:"size"`
	SizeText    string `json:"size_text"`
	SHA256      string `json:"sha256"`
	// Path is the chain of delegating roles from root down to this role's
	// parent; empty for root.
	Path []Link `json:"path"`
	// Verified is true when every check passed (and there is at least one).
	Verified    bool        `json:"verified"`
	Status      string      `json:"status"`
	StatusClass string      `json:"status_class"`
	Checks      []CheckView `json:"checks"`
	// Root only.
	// ConsistentSnapshot is "yes" or "no" for root, "" otherwise.
	ConsistentSnapshot string           `json:"consistent_snapshot,omitempty"`
	Keys               []KeyView        `json:"keys,omitempty"`
	Roles              []DelegationView `json:"roles,omitempty"`
	// Timestamp and snapshot.
	Meta []MetaView `json:"meta,omitempty"`
	// Targets.
	Targets           []TargetView     `json:"targets,omitempty"`
	TargetsHidden     int              `json:"targets_hidden,omitempty"`
	DelegationKeys    []KeyView        `json:"delegation_keys,omitempty"`
	Delegations       []DelegationView `json:"delegations,omitempty"`
	DelegationsHidden int              `json:"delegations_hidden,omitempty"`
	Fields            []FieldView      `json:"fields,omitempty"`
	Problems          []string         `json:"problems,omitempty"`
	// RawJSON is the file, indented, when it is small enough to show.
	RawJSON string `json:"-"`
}

// NewRoleView builds the page of a role from its file, the verdicts of its
// signatures against each delegating role, and the chain of roles from root
// to its parent.
func NewRoleView(f *File, verdicts []Verdict, path []string, problems []string, o Options) RoleView {
	o.defaults()
	v := RoleView{
		Name: f.Role, Type: f.Type, Version: f.Version(), SpecVersion: f.specVersion(),
		Expires: NewExpiry(f.Expires(), o.Now, o.Warn(f.Role)),
		File:    Link{Name: f.Name, Href: o.Links.File(f.Name)},
		Size:    len(f.Raw), SizeText: Size(int64(len(f.Raw))), SHA256: f.SHA256(),
		Problems: problems,
	}
	if o.Describe != nil {
		v.About = o.Describe(f.Role)
	}
	for _, p := range path {
		v.Path = append(v.Path, Link{Name: p, Href: o.Links.Role(p)})
	}
	v.Verified = len(verdicts) > 0
	for _, vd := range verdicts {
		c := checkView(vd, o)
		v.Checks = append(v.Checks, c)
		v.Verified = v.Verified && c.Verified
	}
	switch {
	case len(verdicts) == 0:
		v.Status, v.StatusClass = "not checked: no delegating role found", "warn"
	case v.Verified:
		v.Status, v.StatusClass = "verified", "ok"
	default:
		v.Status, v.StatusClass = "signature check failed", "bad"
	}
	if v.Expires.Class == "bad" {
		v.Problems = append(v.Problems, "this role has expired: TUF clients refuse it")
	}
	v.fill(f, o)
	if len(f.Raw) <= o.MaxRawJSON {
		v.RawJSON = prettyRaw(f.Raw)
	}
	return v
}

func checkView(vd Verdict, o Options) CheckView {
	c := CheckView{Parent: Link{Name: vd.Parent, Href: o.Links.Role(vd.Parent)}, Verified: vd.Verified(),
		Threshold: vd.Threshold, Valid: len(vd.Valid)}
	switch {
	case vd.Err != "":
		c.Summary, c.Class = vd.Err, "bad"
	case c.Verified:
		c.Summary, c.Class = fmt.Sprintf("verified: %d of the %d required signatures are valid", len(vd.Valid), vd.Threshold), "ok"
	default:
		c.Summary, c.Class = fmt.Sprintf("not verified: %d valid signatures; %d required", len(vd.Valid), vd.Threshold), "bad"
	}
	add := func(ids []string, status, class string) {
		for _, id := range ids {
			c.Sigs = append(c.Sigs, SigView{KeyRef: keyRef(id, o.Labels), Status: status, Class: class})
		}
	}
	add(vd.Valid, "valid", "ok")
	add(vd.Bad, "invalid", "bad")
	add(vd.Missing, "not signed", "muted")
	add(vd.Unknown, "not a key of this role", "muted")
	return c
}

func keyRef(id string, labels map[string]string) KeyRef {
	return KeyRef{ID: id, Short: short(id), Label: labels[id]}
}

func (v *RoleView) fill(f *File, o Options) {
	switch {
	case f.root != nil:
		v.ConsistentSnapshot = "no"
		if f.root.Signed.ConsistentSnapshot {
			v.ConsistentSnapshot = "yes"
		}
		v.Keys = keyViews(f.root.Signed.Keys, o.Labels)
		v.Roles = delegationViews(f.Delegations(nil), o)
	case f.timestamp != nil:
		v.Meta = metaViews(f.timestamp.Signed.Meta, o)
	case f.snapshot != nil:
		v.Meta = metaViews(f.snapshot.Signed.Meta, o)
	case f.targets != nil:
		v.fillTargets(f, o)
	}
	for _, name := range slices.Sorted(maps.Keys(f.unrecognized())) {
		v.Fields = append(v.Fields, FieldView{Name: name, JSON: pretty(f.unrecognized()[name])})
	}
}

func (v *RoleView) fillTargets(f *File, o Options) {
	t := f.targets.Signed
	paths := slices.Sorted(maps.Keys(t.Targets))
	if len(paths) > o.MaxRows {
		v.TargetsHidden = len(paths) - o.MaxRows
		paths = paths[:o.MaxRows]
	}
	for _, p := range paths {
		tf := t.Targets[p]
		tv := TargetView{Path: p, Length: tf.Length, Size: Size(tf.Length), Hashes: hashViews(tf.Hashes)}
		if tf.Custom != nil {
			tv.Custom = prettyRaw(*tf.Custom)
		}
		if h, ok := tf.Hashes["sha256"]; ok {
			tv.Href = o.Links.Target(p, hex.EncodeToString(h))
		}
		v.Targets = append(v.Targets, tv)
	}
	if t.Delegations == nil {
		return
	}
	dels := f.Delegations(nil)
	keys := t.Delegations.Keys
	if len(dels) > o.MaxRows {
		v.DelegationsHidden = len(dels) - o.MaxRows
		dels = dels[:o.MaxRows]
		// Only the keys of the delegations shown.
		keys = map[string]*metadata.Key{}
		for _, d := range dels {
			for _, id := range d.KeyIDs {
				keys[id] = t.Delegations.Keys[id]
			}
		}
	}
	v.DelegationKeys = keyViews(keys, o.Labels)
	v.Delegations = delegationViews(dels, o)
	if s := t.Delegations.SuccinctRoles; s != nil {
		v.Fields = append(v.Fields, FieldView{Name: "delegations.succinct_roles", JSON: pretty(s)})
	}
}

func keyViews(keys map[string]*metadata.Key, labels map[string]string) []KeyView {
	var out []KeyView
	for _, id := range slices.Sorted(maps.Keys(keys)) {
		kv := KeyView{KeyRef: keyRef(id, labels)}
		if k := keys[id]; k != nil {
			kv.Type, kv.Scheme, kv.Public = k.Type, k.Scheme, k.Value.PublicKey
		}
		out = append(out, kv)
	}
	return out
}

func metaViews(meta map[string]*metadata.MetaFiles, o Options) []MetaView {
	var out []MetaView
	for _, name := range slices.Sorted(maps.Keys(meta)) {
		m := meta[name]
		if m == nil {
			continue
		}
		role := strings.TrimSuffix(name, ".json")
		out = append(out, MetaView{File: name, Role: Link{Name: role, Href: o.Links.Role(role)},
			Version: m.Version, Length: m.Length, Hashes: hashViews(m.Hashes)})
	}
	return out
}

func hashViews(h metadata.Hashes) []HashView {
	var out []HashView
	for _, alg := range slices.Sorted(maps.Keys(h)) {
		out = append(out, HashView{Alg: alg, Hex: hex.EncodeToString(h[alg])})
	}
	return out
}

func delegationViews(dels []Delegation, o Options) []DelegationView {
	var out []DelegationView
	for _, d := range dels {
		dv := DelegationView{Role: Link{Name: d.Role, Href: o.Links.Role(d.Role)}, Threshold: d.Threshold,
			Terminating: d.Terminating, Paths: d.Paths, PathHashPrefixes: d.PathHashPrefixes, Succinct: d.Succinct}
		for _, id := range d.KeyIDs {
			dv.Keys = append(dv.Keys, keyRef(id, o.Labels))
		}
		if o.ChildStatus != nil {
			switch verified, known := o.ChildStatus(d.Role); {
			case !known:
				dv.Status, dv.Class = "missing", "warn"
			case verified:
				dv.Status, dv.Class = "verified", "ok"
			default:
				dv.Status, dv.Class = "failed", "bad"
			}
		}
		out = append(out, dv)
	}
	return out
}

// Size formats a byte count for people ("3.1 MiB").
func Size(n int64) string { return explain.Size(n) }
