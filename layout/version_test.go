package layout_test

import (
	"slices"
	"strings"
	"testing"

	"hallmark.dev/hallmark/layout"
)

func mustVersion(t *testing.T, s string) layout.Version {
	t.Helper()
	v, err := layout.ParseVersion(s)
	if err != nil {
		t.Fatalf("ParseVersion(%q): %v", s, err)
	}
	return v
}

// The precedence examples of semver.org, section 11, in ascending order.
func TestCompareFollowsSemVerPrecedence(t *testing.T) {
	chains := [][]string{
		{"1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-alpha.beta", "1.0.0-beta", "1.0.0-beta.2", "1.0.0-beta.11", "1.0.0-rc.1", "1.0.0"},
		{"1.0.0", "2.0.0", "2.1.0", "2.1.1"},
		{"1.9.0", "1.10.0", "1.11.0"},
		{"0.0.1", "0.1.0", "1.0.0"},
		{"1.0.0-2", "1.0.0-10", "1.0.0-a"},
		{"1.0.0-rc.1", "1.0.0-rc.1.1"},
		// Identifiers too large for 64 bits are still numeric (semver.org
		// §11.4.1: "compared numerically"), never compared as text.
		{"1.0.0-99999999999999999999", "1.0.0-100000000000000000000"},
	}
	for _, chain := range chains {
		for i := range chain {
			for j := range chain {
				a, b := mustVersion(t, chain[i]), mustVersion(t, chain[j])
				want := 0
				switch {
				case i < j:
					want = -1
				case i > j:
					want = 1
				}
				if got := a.Compare(b); got != want {
					t.Errorf("Compare(%s, %s) = %d; want %d", chain[i], chain[j], got, want)
				}
			}
		}
	}
}

// Build metadata does not change precedence, but the order stays total so
// sorting is deterministic.
func TestCompareIgnoresBuildMetadataForPrecedence(t *testing.T) {
	a, b := mustVersion(t, "1.0.0+build.1"), mustVersion(t, "1.0.0+build.2")
	if a.Compare(b) == 0 || a.Compare(b) != -b.Compare(a) {
		t.Errorf("Compare of 1.0.0+build.1 and 1.0.0+build.2 is not a total, antisymmetric order")
	}
	for _, s := range []string{"1.0.0+build.1", "1.0.0+zzz"} {
		v := mustVersion(t, s)
		if v.Compare(mustVersion(t, "0.9.9")) <= 0 || v.Compare(mustVersion(t, "1.0.1-alpha")) >= 0 {
			t.Errorf("%s is not ordered by its precedence 1.0.0", s)
		}
	}
}

func TestParseVersion(t *testing.T) {
	tests := []struct {
		in                  string
		major, minor, patch uint64
		pre                 []string
		build               string
	}{
		{"1.4.0", 1, 4, 0, nil, ""},
		{"0.0.0", 0, 0, 0, nil, ""},
		{"2.0.0-rc.1", 2, 0, 0, []string{"rc", "1"}, ""},
		{"1.0.0-alpha+001", 1, 0, 0, []string{"alpha"}, "001"},
		{"1.0.0+20130313144700", 1, 0, 0, nil, "20130313144700"},
		{"1.0.0-x-y-z.--", 1, 0, 0, []string{"x-y-z", "--"}, ""},
		{"10.20.30", 10, 20, 30, nil, ""},
	}
	for _, tt := range tests {
		v, err := layout.ParseVersion(tt.in)
		if err != nil {
			t.Errorf("ParseVersion(%q): %v", tt.in, err)
			continue
		}
		if v.Major != tt.major || v.Minor != tt.minor || v.Patch != tt.patch || !slices.Equal(v.Pre, tt.pre) || v.Build != tt.build {
			t.Errorf("ParseVersion(%q) = %d.%d.%d %v %q", tt.in, v.Major, v.Minor, v.Patch, v.Pre, v.Build)
		}
		if v.String() != tt.in {
			t.Errorf("ParseVersion(%q).String() = %q", tt.in, v.String())
		}
		if v.IsPrerelease() != (len(tt.pre) > 0) {
			t.Errorf("ParseVersion(%q).IsPrerelease() = %v", tt.in, v.IsPrerelease())
		}
	}
}

func TestParseVersionRefusesNonSemVer(t *testing.T) {
	for _, s := range []string{
		"", "01.0.0", "1.01.0", "1.0.01", "1.0", "1", "v1.0.0", "1.0.0.0",
		"1.0.0-", "1.0.0+", "1.0.0-01", "1.0.0-alpha..1", "1.0.0-alpha_1",
		" 1.0.0", "1.0.0 ", "1.0.0\n", "-1.0.0", "1.0.0/../x", "1.0.0-é",
		"18446744073709551616.0.0", // does not fit 64 bits
		"1.0.0-" + strings.Repeat("a", layout.MaxVersionLength),
	} {
		if v, err := layout.ParseVersion(s); err == nil {
			t.Errorf("ParseVersion(%q) = %v; want an error", s, v)
		}
	}
}

func TestSortVersionsDescPutsNewestFirstAndJunkLast(t *testing.T) {
	vs := []string{"1.0.0-rc.1", "junk", "0.9.0", "1.10.0", "1.0.0", "1.9.0", "abc", "2.0.0-alpha"}
	layout.SortVersionsDesc(vs)
	want := []string{"2.0.0-alpha", "1.10.0", "1.9.0", "1.0.0", "1.0.0-rc.1", "0.9.0", "abc", "junk"}
	if !slices.Equal(vs, want) {
		t.Errorf("SortVersionsDesc = %v; want %v", vs, want)
	}
}

func TestBuildMetadataNamesTheSameRelease(t *testing.T) {
	tests := []struct {
		a, b string
		same bool
	}{
		{"1.2.0+build.1", "1.2.0+build.2", true},
		{"1.2.0", "1.2.0+build.2", true},
		{"1.2.0-rc.1+a", "1.2.0-rc.1+b", true},
		{"1.2.0-rc.1", "1.2.0", false},
		{"1.2.0", "1.2.1", false},
	}
	for _, tt := range tests {
		t.Run(tt.a+" "+tt.b, func(t *testing.T) {
			ix := &layout.Index{Project: "p", Releases: []layout.Release{{Version: tt.a}}}
			_, found := ix.SameRelease(tt.b)
			ix.Releases = append(ix.Releases, layout.Release{Version: tt.b})
			err := ix.CheckDistinctReleases()
			if found != tt.same || (err != nil) != tt.same {
				t.Fatalf("SameRelease found %v, CheckDistinctReleases = %v; want same = %v", found, err, tt.same)
			}
			if tt.same && !strings.Contains(err.Error(), "differ only in build metadata") {
				t.Fatalf("error does not say why: %v", err)
			}
		})
	}
}
