package layout_test

import (
	"strings"
	"testing"

	"hallmark.dev/hallmark/layout"
)

// A user may type a project name in any PEP 503 spelling; every spelling
// names the same project.
func TestParseProjectNameNormalizesLikePEP503(t *testing.T) {
	tests := []struct {
		typed, want string
	}{
		{"Foo_Bar", "foo-bar"},
		{"foo.bar", "foo-bar"},
		{"FOO--bar", "foo-bar"},
		{"foo-bar", "foo-bar"},
		{"Foo._-Bar", "foo-bar"},
		{"requests", "requests"},
		{"Django", "django"},
		{"zope.interface", "zope-interface"},
		{"a", "a"},
		{"0", "0"},
		{"A1_b2.C3", "a1-b2-c3"},
		{strings.Repeat("x", layout.MaxNameLength), strings.Repeat("x", layout.MaxNameLength)},
		// Reserved words are refused as names, not as parts of names.
		{"root-tools", "root-tools"},
		{"new_thing", "new-thing"},
		{"Snapshot.Testing", "snapshot-testing"},
	}
	for _, tt := range tests {
		got, err := layout.ParseProjectName(tt.typed)
		if err != nil {
			t.Errorf("ParseProjectName(%q): %v", tt.typed, err)
			continue
		}
		if got != tt.want {
			t.Errorf("ParseProjectName(%q) = %q; want %q", tt.typed, got, tt.want)
		}
		if n := layout.Normalize(tt.typed); n != tt.want {
			t.Errorf("Normalize(%q) = %q; want %q", tt.typed, n, tt.want)
		}
		if !layout.IsNormalizedProject(tt.want) {
			t.Errorf("IsNormalizedProject(%q) = false for a normal form", tt.want)
		}
	}
}

func TestParseProjectNameRefusesBadNames(t *testing.T) {
	tests := []struct {
		desc, name string
	}{
		{"empty", ""},
		{"leading dash", "-foo"},
		{"trailing dash", "foo-"},
		{"leading dot", ".foo"},
		{"trailing underscore", "foo_"},
		{"only separators", "--"},
		{"unicode letter", "fóo"},
		{"unicode confusable (Cyrillic a)", "p\u0430ckage"},
		{"slash", "foo/bar"},
		{"path traversal", ".."},
		{"path traversal inside", "foo/../bar"},
		{"backslash", `foo\bar`},
		{"space", "foo bar"},
		{"NUL byte", "foo\x00"},
		{"newline", "foo\n"},
		{"too long", strings.Repeat("x", layout.MaxNameLength+1)},
		{"plus", "foo+bar"},
		{"at", "@scope"},
		{"colon", "c:"},
	}
	for _, tt := range tests {
		if got, err := layout.ParseProjectName(tt.name); err == nil {
			t.Errorf("%s: ParseProjectName(%q) = %q; want an error", tt.desc, tt.name, got)
		}
		if layout.IsNormalizedProject(tt.name) {
			t.Errorf("%s: IsNormalizedProject(%q) = true", tt.desc, tt.name)
		}
	}
}

// Role and URL names must never be taken by a project, in any spelling: a
// project called "root" or "Time_Stamp" would collide with infrastructure.
func TestParseProjectNameRefusesReservedNames(t *testing.T) {
	for _, name := range []string{
		"root", "targets", "snapshot", "timestamp", "claimed", "new",
		"ROOT", "Targets", "SnapShot", "TimeStamp", "Claimed", "NEW",
		"archive", "blocked", "metadata", "api", "healthz", "metrics",
		"hallmark", "index", "mirrors",
	} {
		_, err := layout.ParseProjectName(name)
		if err == nil {
			t.Errorf("ParseProjectName(%q) accepted a reserved name", name)
			continue
		}
		if !strings.Contains(err.Error(), "reserved") {
			t.Errorf("ParseProjectName(%q) error %q does not say the name is reserved", name, err)
		}
	}
}

// IsNormalizedProject accepts only the canonical spelling, so a role name
// or path built from another spelling is refused.
func TestIsNormalizedProjectWantsTheCanonicalForm(t *testing.T) {
	for _, s := range []string{"Foo", "foo_bar", "foo.bar", "foo--bar"} {
		if layout.IsNormalizedProject(s) {
			t.Errorf("IsNormalizedProject(%q) = true; only %q is normalized", s, layout.Normalize(s))
		}
	}
}

// Hallmark's role names never collide with a project's owners role: a
// normalized name has no '.', and bins and releases roles all contain one.
func TestRoleNamesCannotCollideWithProjects(t *testing.T) {
	tests := []struct {
		role    string
		kind    layout.RoleKind
		subject string
	}{
		{"root", layout.KindTopLevel, ""},
		{"targets", layout.KindTopLevel, ""},
		{"snapshot", layout.KindTopLevel, ""},
		{"timestamp", layout.KindTopLevel, ""},
		{layout.ClaimedRole("a3"), layout.KindClaimed, "a3"},
		{layout.NewRole("a3"), layout.KindNew, "a3"},
		{layout.OwnersRole("foo-bar"), layout.KindOwners, "foo-bar"},
		{layout.ReleasesRole("foo-bar"), layout.KindReleases, "foo-bar"},
		{"Foo.releases", layout.KindUnknown, ""},
		{"foo_bar", layout.KindUnknown, ""},
		{"../x", layout.KindUnknown, ""},
	}
	for _, tt := range tests {
		kind, subject := layout.ParseRole(tt.role)
		if kind != tt.kind || subject != tt.subject {
			t.Errorf("ParseRole(%q) = %v, %q; want %v, %q", tt.role, kind, subject, tt.kind, tt.subject)
		}
		if kind != layout.KindOwners && layout.IsNormalizedProject(tt.role) {
			t.Errorf("role %q is also a valid project name", tt.role)
		}
		if strings.ContainsAny(tt.role, `/\`) && kind != layout.KindUnknown {
			t.Errorf("role %q is not file-name safe", tt.role)
		}
	}
}
