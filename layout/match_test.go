package layout

import (
	"math/rand/v2"
	"regexp"
	"strings"
	"testing"
)

// The name and file-name checks and the PEP 503 folding are loops; these
// are the regular expressions they replaced, as the reference.
var (
	refName      = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?$`)
	refFilename  = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._+-]*$`)
	refSeparator = regexp.MustCompile(`[-_.]+`)
)

// checkAgainstRegexps fails if a loop and its regexp disagree on s.
func checkAgainstRegexps(t *testing.T, s string) {
	t.Helper()
	if got, want := validName(s), refName.MatchString(s); got != want {
		t.Fatalf("validName(%q) = %v, the regexp says %v", s, got, want)
	}
	if got, want := validFilename(s), refFilename.MatchString(s); got != want {
		t.Fatalf("validFilename(%q) = %v, the regexp says %v", s, got, want)
	}
	if got, want := Normalize(s), refSeparator.ReplaceAllString(strings.ToLower(s), "-"); got != want {
		t.Fatalf("Normalize(%q) = %q, the regexp gives %q", s, got, want)
	}
	skel := lookAlikes.Replace(refSeparator.ReplaceAllString(strings.ToLower(s), ""))
	for folded := lookAlikePairs.Replace(skel); folded != skel; folded = lookAlikePairs.Replace(skel) {
		skel = folded
	}
	if got := Skeleton(s); got != skel {
		t.Fatalf("Skeleton(%q) = %q, the regexp gives %q", s, got, skel)
	}
}

func TestNameLoopsMatchRegexps(t *testing.T) {
	for _, s := range []string{"", "a", "-", "a-", "-a", "a.b", "a..b", "A_B-c.D", "a+b", "a b", "é", "aé", "a\xffb", "\xff", "a-_.-b", "Zz9", "9", "+a", "a+", "a/b", "rn--cl__vv", "İstanbul", "KELVIN\u212a"} {
		checkAgainstRegexps(t, s)
	}
	const alphabet = "aZ09-_.+ /éK\xff\u212a"
	runes := []rune(alphabet)
	rng := rand.New(rand.NewPCG(3, 4))
	for range 20000 {
		var b strings.Builder
		for range rng.IntN(8) {
			if rng.IntN(10) == 0 {
				b.WriteByte(0xff) // invalid UTF-8
			} else {
				b.WriteRune(runes[rng.IntN(len(runes))])
			}
		}
		checkAgainstRegexps(t, b.String())
	}
}

// FuzzNameLoopsMatchRegexps compares the loops with the regexps on any input.
func FuzzNameLoopsMatchRegexps(f *testing.F) {
	for _, s := range []string{"hello-world", "He11o_World", "a..b", "a+b.whl", "\xff-a"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		checkAgainstRegexps(t, s)
	})
}
