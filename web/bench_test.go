package web_test

import (
	"encoding/binary"
	"fmt"
	"strings"
	"sync"
	"testing"

	"hallmark.dev/hallmark/signing"
)

// The benchmarks measure the UI's request handling, in process, through
// httptest (no network, no TLS): store queries on a real SQLite file, blob
// reads from a real directory, decoding of the roles, and template
// rendering. The repository holds benchProjects projects, each with one
// release of one file and its own owner key, added by committing signed
// roles straight to the store (the publisher's validation and the
// snapshot/timestamp it would sign are skipped: they are not what a page
// view costs). Results for docs/benchmarks.md:
//
//	go test ./web/ -run '^$' -bench . -benchtime 2s
const benchProjects = 10000

var benchFixtures sync.Map // shard count → *fixture

// benchFixture builds (once per shard count) the repository of the
// benchmarks.
func benchFixture(b *testing.B, shards int) *fixture {
	if f, ok := benchFixtures.Load(shards); ok {
		return f.(*fixture)
	}
	f := newFixture(&keepTB{TB: b}, shards)
	specs := make([]projectSpec, benchProjects)
	for i := range specs {
		seed := make([]byte, 32)
		binary.BigEndian.PutUint64(seed, uint64(i)+1000)
		specs[i] = projectSpec{display: fmt.Sprintf("pkg-%d", i), owner: signing.FromSeed(seed, fmt.Sprintf("owner %d <o%d@example.org>", i, i)),
			releases: []releaseSpec{{version: "1.0.0", files: map[string]string{fmt.Sprintf("pkg-%d-1.0.0.tar.gz", i): fmt.Sprintf("content %d", i)}}}}
	}
	f.add(&keepTB{TB: b}, specs...)
	benchFixtures.Store(shards, f)
	return f
}

// keepTB keeps a fixture's temporary files for the whole run: the fixture
// is shared by the benchmarks and their repeated runs.
type keepTB struct{ testing.TB }

func (k *keepTB) TempDir() string { return tempDirs.dir(k.TB) }
func (k *keepTB) Cleanup(func())  {}

var tempDirs = &benchDirs{}

type benchDirs struct{ mu sync.Mutex }

func (d *benchDirs) dir(tb testing.TB) string {
	d.mu.Lock()
	defer d.mu.Unlock()
	dir, err := osMkdirTemp()
	if err != nil {
		tb.Fatal(err)
	}
	return dir
}

func benchGet(b *testing.B, f *fixture, url, want string) {
	b.Helper()
	b.ReportAllocs()
	if rec := f.get(url); rec.Code != 200 || !strings.Contains(rec.Body.String(), want) {
		b.Fatalf("GET %s = %d, without %q", url, rec.Code, want)
	}
	b.ResetTimer()
	for b.Loop() {
		if rec := f.get(url); rec.Code != 200 {
			b.Fatalf("GET %s = %d", url, rec.Code)
		}
	}
}

// BenchmarkProjectPage is GET /p/pkg-5000: project, two roles, the bin's
// delegation (cached per bin version), the index blob, file records,
// pending changes.
func BenchmarkProjectPage(b *testing.B) {
	for _, shards := range []int{16, 1} {
		b.Run(fmt.Sprintf("shards=%d", shards), func(b *testing.B) {
			benchGet(b, benchFixture(b, shards), "/p/pkg-5000", "pkg-5000-1.0.0.tar.gz")
		})
	}
}

// BenchmarkProjectPageJSON is the same page as JSON.
func BenchmarkProjectPageJSON(b *testing.B) {
	benchGet(b, benchFixture(b, 16), "/p/pkg-5000?format=json", `"latest": "1.0.0"`)
}

// BenchmarkSearch is the start page with a search: a prefix match (an index
// range scan), a substring match and a miss (both scan the name index),
// plus recent releases and the cached health summary.
func BenchmarkSearch(b *testing.B) {
	f := benchFixture(b, 16)
	for _, q := range []struct{ name, q, want string }{
		{"prefix", "PKG_12", `href="/p/pkg-12"`},
		{"substring", "999", `href="/p/pkg-999"`},
		{"miss", "zzz", "No project name contains"},
	} {
		b.Run(q.name, func(b *testing.B) { benchGet(b, f, "/?q="+q.q, q.want) })
	}
}

// BenchmarkMetadataRole is the metadata browser on a project's releases
// role: two roles decoded with go-tuf, one signature checked.
func BenchmarkMetadataRole(b *testing.B) {
	f := benchFixture(b, 16)
	benchGet(b, f, "/m/"+shardOf("pkg-5000", 16)+"/pkg-5000.releases", "verified")
}

// BenchmarkMetadataBin is the metadata browser's worst page: the new bin of
// a one-shard repository, which delegates all ten thousand projects. It is
// decoded with go-tuf, its signature checked over its canonical JSON, and
// its first 1000 delegations rendered.
func BenchmarkMetadataBin(b *testing.B) {
	benchGet(b, benchFixture(b, 1), "/m/0/new.0", "more delegations, not shown")
}
