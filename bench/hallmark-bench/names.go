package main

import (
	"bufio"
	"compress/gzip"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"

	"hallmark.dev/hallmark/layout"
)

// defaultNamesFiles are where the PyPI name list is looked for when -names
// is not given: the shared data directory beside the checkout.
var defaultNamesFiles = []string{
	"../shared/data/pypi-names.txt.gz",
	"../../shared/data/pypi-names.txt.gz",
}

// projectName is one project of the benchmark: the name as typed and its
// normalized form.
type projectName struct {
	Display string
	Name    string
}

// loadNames returns n distinct, valid project names in a fixed pseudo-random
// order: real PyPI names when the list is found, synthetic ones after it
// runs out (or when there is no list). It reports where the names came from.
func loadNames(path string, n int) ([]projectName, string, error) {
	var raw []string
	source := "synthetic (proj-NNNNNNN)"
	if path == "" {
		for _, p := range defaultNamesFiles {
			if _, err := os.Stat(p); err == nil {
				path = p
				break
			}
		}
	}
	if path != "" {
		var err error
		if raw, err = readNames(path); err != nil {
			return nil, "", err
		}
		abs, _ := filepath.Abs(path)
		source = fmt.Sprintf("PyPI names from %s (%d listed)", abs, len(raw))
	}
	// A fixed shuffle: the first n names are a random sample, the same in
	// every run, so repositories can be extended and runs compared.
	rng := rand.New(rand.NewPCG(1, 2))
	rng.Shuffle(len(raw), func(i, j int) { raw[i], raw[j] = raw[j], raw[i] })
	seen := make(map[string]bool, n)
	out := make([]projectName, 0, n)
	for _, d := range raw {
		if len(out) == n {
			break
		}
		norm, err := layout.ParseProjectName(d)
		if err != nil || seen[norm] {
			continue
		}
		seen[norm] = true
		out = append(out, projectName{Display: d, Name: norm})
	}
	if len(out) < n && path != "" {
		source += fmt.Sprintf(", then synthetic names after %d", len(out))
	}
	for i := 0; len(out) < n; i++ {
		d := fmt.Sprintf("proj-%07d", i)
		if seen[d] {
			continue
		}
		seen[d] = true
		out = append(out, projectName{Display: d, Name: d})
	}
	return out, source, nil
}

func readNames(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("failed to open the name list: %w", err)
	}
	defer f.Close()
	var r io.Reader = f
	if strings.HasSuffix(path, ".gz") {
		gz, err := gzip.NewReader(f)
		if err != nil {
			return nil, fmt.Errorf("failed to read %s: %w", path, err)
		}
		defer gz.Close()
		r = gz
	}
	var names []string
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		if s := strings.TrimSpace(sc.Text()); s != "" {
			names = append(names, s)
		}
	}
	return names, sc.Err()
}
