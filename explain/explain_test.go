package explain

import (
	"crypto/ed25519"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/theupdateframework/go-tuf/v2/metadata"

	"hallmark.dev/hallmark/layout"
	"hallmark.dev/hallmark/signing"
	"hallmark.dev/hallmark/tufmeta"
)

func key(b byte, label string) signing.PublicKey {
	seed := make([]byte, ed25519.SeedSize)
	seed[0] = b
	return signing.FromSeed(seed, label).Public()
}

// owners builds an owners role delegating p.releases to maintainers.
func owners(p string, labels map[string]string, threshold int, maint ...signing.PublicKey) *tufmeta.Targets {
	md := metadata.Targets(time.Now().Add(time.Hour))
	d := tufmeta.NewDelegation(maint, threshold)
	md.Signed.Delegations = &metadata.Delegations{Keys: d.Keys, Roles: []metadata.DelegatedRole{{
		Name: layout.ReleasesRole(p), KeyIDs: d.KeyIDs, Threshold: threshold, Terminating: true, Paths: layout.DelegationPaths(p)}}}
	tufmeta.SetLabels(md, labels)
	return md
}

func TestChangeSaysWhatHappens(t *testing.T) {
	alice, bob := key(1, "Alice"), key(2, "Bob")
	ix1 := &layout.Index{Project: "p", Releases: []layout.Release{{Version: "1.0.0", Files: []layout.FileEntry{{Name: "a", SHA256: strings.Repeat("a", 64), Length: 2048}}}}}
	ix2 := &layout.Index{Project: "p", Releases: []layout.Release{
		{Version: "1.0.0", Files: ix1.Releases[0].Files, Yanked: true, YankedReason: "broken"},
		{Version: "2.0.0", Files: []layout.FileEntry{{Name: "b", SHA256: strings.Repeat("b", 64), Length: 10}, {Name: "c", SHA256: strings.Repeat("c", 64), Length: 10}}},
	}}
	base := owners("p", map[string]string{alice.ID(): "Alice"}, 1, alice)
	tests := []struct {
		desc     string
		old, new State
		want     []string
	}{
		{"a release and a yank",
			State{Project: "p", OwnersRole: base, Index: ix1},
			State{Project: "p", OwnersRole: base, Index: ix2},
			[]string{"add release 2.0.0: 2 file(s), 20 B", "file b of 2.0.0: 10 B, sha256 " + strings.Repeat("b", 64),
				"file c of 2.0.0: 10 B, sha256 " + strings.Repeat("c", 64), `yank release 1.0.0: "broken"`}},
		{"a new maintainer, labelled by the change itself, and a threshold",
			State{Project: "p", OwnersRole: base},
			State{Project: "p", OwnersRole: owners("p", map[string]string{alice.ID(): "Alice", bob.ID(): "Bob"}, 2, alice, bob)},
			[]string{"add maintainer key " + bob.ShortID() + ` (labelled "Bob" by this change), key id ` + bob.ID(), "releases threshold 1 → 2 (signatures needed to change releases)"}},
		{"a removed maintainer keeps the published label",
			State{Project: "p", OwnersRole: owners("p", map[string]string{alice.ID(): "Alice", bob.ID(): "Bob"}, 1, alice, bob)},
			State{Project: "p", OwnersRole: base},
			[]string{"remove maintainer Bob (" + bob.ShortID() + "), key id " + bob.ID()}},
		{"a removed release",
			State{Project: "p", OwnersRole: base, Index: ix2},
			State{Project: "p", OwnersRole: base, Index: ix1},
			[]string{"remove release 2.0.0 and its 2 file(s) (their names can never be used again with other content)", "file b of 2.0.0: 10 B, sha256 " + strings.Repeat("b", 64),
				"file c of 2.0.0: 10 B, sha256 " + strings.Repeat("c", 64), "unyank release 1.0.0"}},
		{"a file added to and one removed from a release",
			State{Project: "p", OwnersRole: base, Index: ix1},
			State{Project: "p", OwnersRole: base, Index: &layout.Index{Project: "p", Releases: []layout.Release{{Version: "1.0.0", Files: ix2.Releases[1].Files[:1]}}}},
			[]string{"add file b to release 1.0.0: 10 B, sha256 " + strings.Repeat("b", 64),
				"remove file a from release 1.0.0: 2.0 KiB, sha256 " + strings.Repeat("a", 64) + " (its name can never be used again with other content)"}},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			got := Change(tt.old, tt.new)
			for _, w := range tt.want {
				if !slices.Contains(got, w) {
					t.Errorf("lines %q lack %q", got, w)
				}
			}
			if len(got) != len(tt.want) {
				t.Errorf("lines %q; want exactly %q", got, tt.want)
			}
		})
	}
}

func TestChangeOfNothingIsARenewal(t *testing.T) {
	alice := key(1, "Alice")
	o := owners("p", nil, 1, alice)
	n := owners("p", nil, 1, alice)
	n.Signed.Version = 2
	got := Change(State{Project: "p", OwnersRole: o}, State{Project: "p", OwnersRole: n})
	if len(got) != 1 || !strings.HasPrefix(got[0], "renew the owners role: valid until ") {
		t.Fatalf("lines %q; want one renewal line", got)
	}
}

func TestSignersNamesEveryKeyInFull(t *testing.T) {
	alice, bob, mallory := key(1, "Alice"), key(2, "Bob"), key(3, "")
	old := State{Project: "p", OwnersRole: owners("p", map[string]string{alice.ID(): "Alice"}, 1, alice)}
	next := State{Project: "p", OwnersRole: owners("p", map[string]string{alice.ID(): "Alice", bob.ID(): "Bob"}, 1, alice, bob)}
	got := Signers(old, next, []string{alice.ID(), bob.ID(), mallory.ID()})
	want := []string{
		"Alice (" + alice.ShortID() + "), key id " + alice.ID(),
		"key " + bob.ShortID() + ` (labelled "Bob" by this change), key id ` + bob.ID(),
		"key " + mallory.ShortID() + ", key id " + mallory.ID(),
	}
	if !slices.Equal(got, want) {
		t.Fatalf("Signers = %q\nwant %q", got, want)
	}
}

func TestDurationIsForPeople(t *testing.T) {
	tests := []struct {
		d    time.Duration
		want string
	}{
		{8760 * time.Hour, "365 days"},
		{49 * time.Hour, "2 days"},
		{47 * time.Hour, "47 hours"},
		{90 * time.Minute, "90 minutes"},
		{time.Minute, "1 minute"},
		{10 * time.Second, "less than a minute"},
		{-72 * time.Hour, "3 days ago"},
	}
	for _, tt := range tests {
		if got := Duration(tt.d); got != tt.want {
			t.Errorf("Duration(%s) = %q; want %q", tt.d, got, tt.want)
		}
	}
}

func TestChangeOfProjectDetails(t *testing.T) {
	old := &layout.Index{Project: "p", Meta: &layout.ProjectMeta{Description: "old", Homepage: "https://old.example"}}
	next := &layout.Index{Project: "p", Meta: &layout.ProjectMeta{Description: "A library", License: "MIT", Readme: "# p\nhello"}}
	got := Change(State{Project: "p", Index: old}, State{Project: "p", Index: next})
	want := []string{`set the description to "A library"`, `remove the homepage (was "https://old.example")`, `set the licence to "MIT"`,
		"set the README: 2 line(s), 9 B, sha256 "}
	if len(got) != len(want) {
		t.Fatalf("lines %q; want %q", got, want)
	}
	for i := range want {
		if !strings.HasPrefix(got[i], want[i]) {
			t.Errorf("line %d = %q; want %q", i, got[i], want[i])
		}
	}
}
