package layout_test

import (
	"regexp"
	"strings"
	"testing"

	"hallmark.dev/hallmark/layout"
)

func TestSkeletonFoldsLookAlikes(t *testing.T) {
	tests := []struct {
		a, b string
		same bool
	}{
		{"hello-world", "Hello_World", true},
		{"hello-world", "helloworld", true},
		{"hello-world", "he11o-world", true},
		{"hello-world", "hel1o-world", true},
		{"hello-world", "hellow0rld", true},
		{"hello-world", "HELLO.W0RLD", true},
		{"modern", "rnodern", true},
		{"wheel", "vvheel", true},
		{"django", "djang0", true},
		{"pillow", "pi1low", true},
		{"requests", "request", false},
		{"numpy", "numba", false},
		{"flask", "flasks", false},
		{"a", "b", false},
	}
	for _, tt := range tests {
		t.Run(tt.a+"~"+tt.b, func(t *testing.T) {
			sa, sb := layout.Skeleton(tt.a), layout.Skeleton(tt.b)
			if (sa == sb) != tt.same {
				t.Fatalf("Skeleton(%q) = %q, Skeleton(%q) = %q; same = %v, want %v", tt.a, sa, tt.b, sb, sa == sb, tt.same)
			}
		})
	}
}

// pypiUltranormalize is PyPI's rule for refusing confusable names (warehouse's
// "ultranormalized" names): PEP 503 normal form without separators, 'o'
// read as '0', 'l' and 'i' as '1'.
func pypiUltranormalize(name string) string {
	s := regexp.MustCompile(`[-_.]+`).ReplaceAllString(strings.ToLower(name), "")
	return strings.NewReplacer("o", "0", "l", "1", "i", "1").Replace(s)
}

// TestConfusableRealPyPINames applies the skeleton rule to the 886k real
// PyPI names: every pair PyPI's own rule calls confusable, ours does too (at
// least as strict), and it would refuse few real names. The counts are
// logged for docs/layout.md.
func TestConfusableRealPyPINames(t *testing.T) {
	names := readPyPINames(t)
	ours := map[string]string{}
	pypi := map[string]string{}
	var oursRefused, pypiRefused int
	for _, name := range names {
		n, err := layout.ParseProjectName(name)
		if err != nil {
			continue
		}
		sk, pk := layout.Skeleton(n), pypiUltranormalize(n)
		first, seen := ours[sk]
		if !seen {
			ours[sk] = n
		} else if first != n {
			oursRefused++
		}
		pfirst, pseen := pypi[pk]
		if !pseen {
			pypi[pk] = n
		} else if pfirst != n {
			pypiRefused++
			// At least as strict: PyPI's collisions are ours too.
			if layout.Skeleton(pfirst) != sk {
				t.Errorf("PyPI refuses %q next to %q, the skeleton rule does not (%q, %q)", n, pfirst, layout.Skeleton(pfirst), sk)
			}
		}
	}
	t.Logf("%d real names: the skeleton rule would refuse %d (%.2f%%) next to an earlier look-alike; PyPI's rule %d", len(names), oursRefused, 100*float64(oursRefused)/float64(len(names)), pypiRefused)
	if oursRefused < pypiRefused {
		t.Errorf("the skeleton rule refuses %d real names, fewer than PyPI's %d", oursRefused, pypiRefused)
	}
	if oursRefused > len(names)/50 {
		t.Errorf("the skeleton rule would refuse %d of %d real names (over 2%%): too strict for real use", oursRefused, len(names))
	}
}
