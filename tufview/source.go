package tufview

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// Source gives the metadata files of one TUF repository by file name
// ("timestamp.json", "3.snapshot.json", "1.root.json").
type Source interface {
	// Fetch returns a file's bytes, or an error wrapping fs.ErrNotExist
	// when there is no such file.
	Fetch(ctx context.Context, name string) ([]byte, error)
	// String names the source in messages.
	String() string
}

// Lister is a Source that can also list its files, as a directory can.
type Lister interface {
	Source
	List(ctx context.Context) ([]string, error)
}

// Dir is a local directory of metadata files.
type Dir string

// String implements Source.
func (d Dir) String() string { return string(d) }

// Fetch implements Source.
func (d Dir) Fetch(_ context.Context, name string) ([]byte, error) {
	if name == "" || strings.ContainsAny(name, `/\`) || name == "." || name == ".." {
		return nil, fmt.Errorf("%q is not a metadata file name: %w", name, fs.ErrNotExist)
	}
	f, err := os.Open(filepath.Join(string(d), name))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return readBounded(f, name)
}

// List implements Lister: every *.json file of the directory.
func (d Dir) List(context.Context) ([]string, error) {
	entries, err := os.ReadDir(string(d))
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range entries {
		if e.Type().IsRegular() && strings.HasSuffix(e.Name(), ".json") {
			out = append(out, e.Name())
		}
	}
	return out, nil
}

// URL is a repository's metadata base URL ("https://example.org/metadata/").
type URL struct {
	Base   string
	Client *http.Client
}

// String implements Source.
func (u URL) String() string { return u.Base }

// Fetch implements Source.
func (u URL) Fetch(ctx context.Context, name string) ([]byte, error) {
	target := strings.TrimSuffix(u.Base, "/") + "/" + url.PathEscape(name)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return nil, err
	}
	c := u.Client
	if c == nil {
		c = http.DefaultClient
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, fmt.Errorf("failed to fetch %s: %w", target, err)
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusNotFound:
		return nil, fmt.Errorf("%s: %w", target, fs.ErrNotExist)
	case resp.StatusCode != http.StatusOK:
		return nil, fmt.Errorf("failed to fetch %s: HTTP %d", target, resp.StatusCode)
	}
	return readBounded(resp.Body, name)
}

func readBounded(r io.Reader, name string) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, MaxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("failed to read %s: %w", name, err)
	}
	if len(b) > MaxFileSize {
		return nil, fmt.Errorf("%s is larger than %d bytes", name, MaxFileSize)
	}
	return b, nil
}

var versioned = regexp.MustCompile(`^([1-9][0-9]{0,18})\.(.+)\.json$`)

// fileRole splits a metadata file name into its role and version (0 when
// the name carries none). Role names are path-escaped in file names.
func fileRole(name string) (string, int64) {
	if m := versioned.FindStringSubmatch(name); m != nil {
		v, _ := strconv.ParseInt(m[1], 10, 64)
		role, err := url.PathUnescape(m[2])
		if err != nil {
			role = m[2]
		}
		return role, v
	}
	role, err := url.PathUnescape(strings.TrimSuffix(name, ".json"))
	if err != nil {
		role = strings.TrimSuffix(name, ".json")
	}
	return role, 0
}

// Load reads the latest metadata file of every role. From a Lister it
// takes, for each role, the highest "N.<role>.json" (or "<role>.json" when
// there is no versioned one). From any other source it walks as a TUF
// client does: the newest root, timestamp.json, the snapshot it names, and
// every role the snapshot lists. Files that cannot be read or parsed are
// reported as problems; the error is for a source with no root at all.
func Load(ctx context.Context, src Source, progress func(string)) ([]*File, []string, error) {
	if progress == nil {
		progress = func(string) {}
	}
	var names []string
	var problems []string
	if l, ok := src.(Lister); ok {
		all, err := l.List(ctx)
		if err != nil {
			return nil, nil, fmt.Errorf("failed to list %s: %w", src, err)
		}
		names = latestFiles(all)
	} else {
		var err error
		names, problems, err = walkNames(ctx, src, progress)
		if err != nil {
			return nil, problems, err
		}
	}
	files, more := fetchAll(ctx, src, names, progress)
	problems = append(problems, more...)
	if !slices.ContainsFunc(files, func(f *File) bool { return f.Role == TypeRoot && f.root != nil }) {
		return files, problems, fmt.Errorf("%s has no readable root metadata", src)
	}
	return files, problems, nil
}

// latestFiles picks the newest file of each role from a listing.
func latestFiles(all []string) []string {
	best := map[string]int64{}
	name := map[string]string{}
	for _, n := range all {
		role, v := fileRole(n)
		if cur, ok := best[role]; !ok || v > cur {
			best[role], name[role] = v, n
		}
	}
	out := make([]string, 0, len(name))
	for _, n := range name {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

// walkNames finds the file names of the current metadata as a client would.
func walkNames(ctx context.Context, src Source, progress func(string)) ([]string, []string, error) {
	rootName, root, err := newestRoot(ctx, src)
	if err != nil {
		return nil, nil, err
	}
	progress("found " + rootName)
	names := []string{rootName}
	var problems []string
	consistent := root.ConsistentSnapshot()
	snapName := "snapshot.json"
	if raw, err := src.Fetch(ctx, "timestamp.json"); err == nil {
		names = append(names, "timestamp.json")
		if ts, err := Parse(TypeTimestamp, "timestamp.json", raw); err == nil && ts.timestamp != nil {
			if m := ts.timestamp.Signed.Meta["snapshot.json"]; m != nil && consistent {
				snapName = fmt.Sprintf("%d.snapshot.json", m.Version)
			}
		}
	} else {
		problems = append(problems, "no timestamp.json: "+err.Error())
	}
	raw, err := src.Fetch(ctx, snapName)
	if err != nil {
		problems = append(problems, "no snapshot: "+err.Error())
		return names, problems, nil
	}
	names = append(names, snapName)
	snap, err := Parse(TypeSnapshot, snapName, raw)
	if err != nil || snap.snapshot == nil {
		problems = append(problems, fmt.Sprintf("cannot read %s: %v", snapName, err))
		return names, problems, nil
	}
	for _, meta := range slices.Sorted(maps.Keys(snap.snapshot.Signed.Meta)) {
		role := strings.TrimSuffix(meta, ".json")
		if consistent {
			names = append(names, fmt.Sprintf("%d.%s.json", snap.snapshot.Signed.Meta[meta].Version, role))
		} else {
			names = append(names, meta)
		}
	}
	return names, problems, nil
}

// newestRoot follows N.root.json upwards from 1 (or from root.json).
func newestRoot(ctx context.Context, src Source) (string, *File, error) {
	name, v := "1.root.json", int64(1)
	raw, err := src.Fetch(ctx, name)
	if errors.Is(err, fs.ErrNotExist) {
		name = "root.json"
		raw, err = src.Fetch(ctx, name)
	}
	if err != nil {
		return "", nil, fmt.Errorf("%s has no root metadata (tried 1.root.json and root.json): %w", src, err)
	}
	f, err := Parse(TypeRoot, name, raw)
	if err != nil {
		return "", nil, err
	}
	v = f.Version()
	for range 100000 {
		next := fmt.Sprintf("%d.root.json", v+1)
		raw, err := src.Fetch(ctx, next)
		if errors.Is(err, fs.ErrNotExist) {
			break
		}
		if err != nil {
			return "", nil, err
		}
		nf, err := Parse(TypeRoot, next, raw)
		if err != nil {
			return "", nil, err
		}
		name, f, v = next, nf, v+1
	}
	return name, f, nil
}

// fetchAll fetches and parses the files, eight at a time.
func fetchAll(ctx context.Context, src Source, names []string, progress func(string)) ([]*File, []string) {
	files := make([]*File, len(names))
	errs := make([]string, len(names))
	var wg sync.WaitGroup
	sem := make(chan struct{}, 8)
	var mu sync.Mutex
	done := 0
	for i, n := range names {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			role, _ := fileRole(n)
			raw, err := src.Fetch(ctx, n)
			if err == nil {
				files[i], err = Parse(role, n, raw)
			}
			if err != nil {
				errs[i] = err.Error()
			}
			mu.Lock()
			done++
			if done%100 == 0 || done == len(names) {
				progress(fmt.Sprintf("read %d of %d metadata files", done, len(names)))
			}
			mu.Unlock()
		}()
	}
	wg.Wait()
	var out []*File
	var problems []string
	for i := range names {
		if files[i] != nil {
			out = append(out, files[i])
		} else if errs[i] != "" {
			problems = append(problems, errs[i])
		}
	}
	return out, problems
}
