package layout

import "strings"

// lookAlikes maps characters that read alike in common fonts to one
// representative: the digit zero and the letter o; the digit one and the
// letters l and i (and I, once lower-cased).
var lookAlikes = strings.NewReplacer("0", "o", "1", "l", "i", "l")

// lookAlikePairs are letter pairs that read as one letter: "rn" as "m",
// "vv" as "w", "cl" as "d".
var lookAlikePairs = strings.NewReplacer("rn", "m", "vv", "w", "cl", "d")

// Skeleton returns the form under which project names are confusable: two
// names with the same skeleton look alike to a reader, and a repository
// accepts only one of them (unless its admins allow the other). It is at
// least as strict as PyPI's rule (PEP 503 normal form without separators,
// o/0 and l/1/i folded): it also folds "rn" into "m", "vv" into "w" and
// "cl" into "d". So "hello-world", "Hello_World", "helloworld",
// "he11o-world", "hel1o-world" and "hellow0rld" share a skeleton.
// name may be in any form ParseProjectName accepts.
func Skeleton(name string) string {
	s := strings.Map(func(r rune) rune {
		if r < 0x80 && isSeparator(byte(r)) {
			return -1
		}
		return r
	}, strings.ToLower(name))
	s = lookAlikes.Replace(s)
	// Fold pairs until nothing changes: "rrnn" becomes "rmn", then "rmn"
	// has no pair left; folding once more never hurts.
	for {
		t := lookAlikePairs.Replace(s)
		if t == s {
			return s
		}
		s = t
	}
}
