package layout_test

import (
	"bufio"
	"compress/gzip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"hallmark.dev/hallmark/layout"
)

// pypiNames is the list of real PyPI project names that CI keeps beside the
// checkout (../shared from the module root). Users' checkouts lack it.
var pypiNames = filepath.Join("..", "..", "shared", "data", "pypi-names.txt.gz")

func readPyPINames(t *testing.T) []string {
	t.Helper()
	f, err := os.Open(pypiNames)
	if os.IsNotExist(err) {
		t.Skipf("%s is absent (it sits beside the checkout in CI only); skipping the real-name checks", pypiNames)
	}
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	sc := bufio.NewScanner(zr)
	for sc.Scan() {
		if s := strings.TrimSpace(sc.Text()); s != "" {
			names = append(names, s)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(names) < 800_000 {
		t.Fatalf("%s holds %d names; expected the full PyPI list", pypiNames, len(names))
	}
	return names
}

// Every real PyPI project must be able to move to Hallmark under its own
// name, except the few whose names Hallmark reserves for its own roles and
// URLs. The refusals are listed so a change to the rules shows up here.
func TestRealPyPINames(t *testing.T) {
	names := readPyPINames(t)

	var reserved, invalid []string
	normal := make([]string, 0, len(names))
	owner := map[string]string{}
	for _, name := range names {
		n, err := layout.ParseProjectName(name)
		switch {
		case err != nil && strings.Contains(err.Error(), "reserved"):
			reserved = append(reserved, name)
		case err != nil:
			invalid = append(invalid, name+": "+err.Error())
		default:
			if prev, dup := owner[n]; dup {
				t.Errorf("real names %q and %q normalize to the same project %q", prev, name, n)
			}
			owner[n] = name
			normal = append(normal, n)
		}
	}
	if len(invalid) > 0 {
		t.Errorf("%d real PyPI names do not parse; first ones:\n%s", len(invalid), strings.Join(invalid[:min(20, len(invalid))], "\n"))
	}
	slices.Sort(reserved)
	t.Logf("%d of %d real names parse; %d are reserved by Hallmark: %s", len(normal), len(names), len(reserved), strings.Join(reserved, ", "))
	// The reserved words are a short, fixed list: a handful of real projects
	// at most may be turned away.
	if len(reserved) > 20 {
		t.Errorf("%d real names are reserved; the reserved list turns away too many projects", len(reserved))
	}

	for _, shards := range []int{16, 256, 4096} {
		lo, hi := shardSpread(normal, shards)
		t.Logf("%d shards: %d..%d projects a shard (ratio %.2f)", shards, lo, hi, float64(hi)/float64(max(lo, 1)))
		if lo == 0 || float64(hi)/float64(lo) > maxSpread[shards] {
			t.Errorf("%d shards: populations %d..%d, ratio above %.2f", shards, lo, hi, maxSpread[shards])
		}
	}
}
