package publish_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/theupdateframework/go-tuf/v2/metadata"

	"hallmark.dev/hallmark/ceremony"
	"hallmark.dev/hallmark/layout"
	"hallmark.dev/hallmark/publish"
	"hallmark.dev/hallmark/signing"
	"hallmark.dev/hallmark/store/blobdir"
	"hallmark.dev/hallmark/store/sqlite"
	"hallmark.dev/hallmark/trust"
	"hallmark.dev/hallmark/tufmeta"
	"hallmark.dev/hallmark/validation"
	"hallmark.dev/hallmark/witness"
)

// BenchmarkPublishRelease measures one release upload through the
// publisher (validation, signing, files, store commit, timestamp) in a
// one-shard repository that already holds K projects: the per-publish cost
// grows with the shard (its snapshot and new bin are re-signed), not with
// the repository. Run: go test ./publish -run '^$' -bench PublishRelease
func BenchmarkPublishRelease(b *testing.B) {
	for _, k := range []int{10, 1000, 5000} {
		b.Run(fmt.Sprintf("projects=%d", k), func(b *testing.B) {
			br := newBenchRepo(b, k)
			b.ResetTimer()
			for i := range b.N {
				b.StopTimer()
				c := br.nextRelease(b, i%k)
				b.StartTimer()
				res, err := br.pub.Submit(context.Background(), c)
				if err != nil || res.Outcome != validation.Accept {
					b.Fatalf("release: %v %v %v", res.Outcome, res.Reason, err)
				}
			}
		})
	}
}

// benchProject is a project of the benchmark repository with its key and
// current releases state.
type benchProject struct {
	name     string
	key      *signing.Key
	releases *tufmeta.Targets
	index    layout.Index
}

type benchRepo struct {
	pub      *publish.Publisher
	projects []*benchProject
}

func benchKey(seed string) *signing.Key {
	s := sha256.Sum256([]byte(seed))
	return signing.FromSeed(s[:], seed)
}

func newBenchRepo(b *testing.B, k int) *benchRepo { return newBenchRepoWith(b, k, 1, 0) }

// newBenchRepoWith builds a repository of k projects over shards shards
// whose roots name the given number of witnesses, each a real witness
// service behind HTTP on loopback.
func newBenchRepoWith(b *testing.B, k, shardCount, witnesses int) *benchRepo {
	dir := b.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	st, err := sqlite.Open(ctx, filepath.Join(dir, "state.db"))
	if err != nil {
		b.Fatal(err)
	}
	blobs, err := blobdir.Open(filepath.Join(dir, "blobs"))
	if err != nil {
		b.Fatal(err)
	}
	secret := bytes.Repeat([]byte{9}, signing.OnlineSecretSize)
	online := func(shard, role string) (*signing.Key, error) { return signing.DeriveOnline(secret, shard, role) }
	pub := publish.New(ctx, publish.Config{State: st, Blobs: blobs, Keys: online, Policy: layout.DefaultPolicy(),
		Shards: shardCount, Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Witnesses: witness.NewPool(nil, 0)})
	b.Cleanup(func() { cancel(); pub.Wait(); st.Close() })
	ws := startBenchWitnesses(b, witnesses, shardCount)
	admin := benchKey("admin")
	var wkeys []*witness.Keys
	for _, w := range ws {
		wkeys = append(wkeys, w.keys)
	}
	shards, tf, err := ceremony.Init(ceremony.Params{
		Shards: shardCount, Witnesses: wkeys,
		Keys: ceremony.Keys{Root: []signing.PublicKey{admin.Public()}, RootThreshold: 1,
			Targets: []signing.PublicKey{admin.Public()}, TargetsThreshold: 1,
			Claim: []signing.PublicKey{admin.Public()}, ClaimThreshold: 1},
		Online: func(shard, role string) signing.PublicKey { k, _ := online(shard, role); return k.Public() },
		Policy: layout.DefaultPolicy(), Now: time.Now(),
	}, ceremony.Signers{Root: []*signing.Key{admin}, Targets: []*signing.Key{admin}, Claim: []*signing.Key{admin}})
	if err != nil {
		b.Fatal(err)
	}
	for _, w := range ws {
		w.open(b, tf)
	}
	if err := pub.Bootstrap(ctx, shards, tf); err != nil {
		b.Fatal(err)
	}
	br := &benchRepo{pub: pub}
	// Create the projects concurrently, so that they publish in batches.
	var wg sync.WaitGroup
	var mu sync.Mutex
	work := make(chan int)
	for range 256 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				p, c := benchCreate(b, fmt.Sprintf("bench-project-%d", i))
				res, err := pub.Submit(ctx, c)
				if err != nil || res.Outcome != validation.Accept {
					b.Errorf("create: %v %v %v", res.Outcome, res.Reason, err)
				}
				mu.Lock()
				br.projects = append(br.projects, p)
				mu.Unlock()
			}
		}()
	}
	for i := range k {
		work <- i
	}
	close(work)
	wg.Wait()
	if b.Failed() {
		b.FailNow()
	}
	return br
}

func benchCreate(b *testing.B, name string) (*benchProject, *publish.Change) {
	key := benchKey(name)
	owners := tufmeta.NewDelegation([]signing.PublicKey{key.Public()}, 1)
	exp := time.Now().Add(300 * 24 * time.Hour)
	ownersRole := metadata.Targets(exp)
	ownersRole.Signed.Delegations = &metadata.Delegations{Keys: maps.Clone(owners.Keys), Roles: []metadata.DelegatedRole{{
		Name: layout.ReleasesRole(name), KeyIDs: owners.KeyIDs, Threshold: 1, Terminating: true, Paths: layout.DelegationPaths(name)}}}
	tufmeta.SetDeclaredOwners(ownersRole, owners)
	if err := tufmeta.Sign(ownersRole, key); err != nil {
		b.Fatal(err)
	}
	p := &benchProject{name: name, key: key, releases: metadata.Targets(exp), index: layout.Index{Project: name}}
	c := p.release(b, "1.0.0")
	c.Create, c.Display, c.Owners, c.OwnersRole = true, name, owners, ownersRole
	return p, c
}

// release adds a release with two small files to the project's releases
// role, signs it, and returns the change that uploads it.
func (p *benchProject) release(b *testing.B, version string) *publish.Change {
	files := map[string][]byte{}
	rel := layout.Release{Version: version}
	for _, f := range []string{p.name + "-" + version + ".tar.gz", p.name + "-" + version + "-py3-none-any.whl"} {
		data := []byte(fmt.Sprintf("%s %s %s\n", p.name, version, f))
		files[layout.FilePath(p.name, version, f)] = data
		sum := sha256.Sum256(data)
		rel.Files = append(rel.Files, layout.FileEntry{Name: f, SHA256: hex.EncodeToString(sum[:]), Length: int64(len(data))})
	}
	p.index.Releases = append(p.index.Releases, rel)
	index, err := p.index.Marshal()
	if err != nil {
		b.Fatal(err)
	}
	files[layout.IndexPath(p.name)] = index
	next := *p.releases
	next.Signed.Targets = maps.Clone(p.releases.Signed.Targets)
	if next.Signed.Targets == nil {
		next.Signed.Targets = map[string]*metadata.TargetFiles{}
	}
	if len(p.index.Releases) > 1 {
		next.Signed.Version++
	}
	next.Signatures = nil
	c := &publish.Change{Project: p.name, Files: map[string]publish.Staged{}}
	for _, path := range slices.Sorted(maps.Keys(files)) {
		data := files[path]
		sum := sha256.Sum256(data)
		next.Signed.Targets[path] = &metadata.TargetFiles{Length: int64(len(data)), Hashes: metadata.Hashes{"sha256": sum[:]}}
		c.Files[path] = publish.Staged{Open: func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil },
			SHA256: hex.EncodeToString(sum[:]), Length: int64(len(data))}
	}
	if err := tufmeta.Sign(&next, p.key); err != nil {
		b.Fatal(err)
	}
	p.releases = &next
	c.ReleasesRole = &next
	return c
}

func (br *benchRepo) nextRelease(b *testing.B, i int) *publish.Change {
	p := br.projects[i]
	return p.release(b, fmt.Sprintf("1.0.%d", len(p.index.Releases)))
}

// benchWitness is a witness service behind a real HTTP server on loopback.
type benchWitness struct {
	dir  string
	keys *witness.Keys
	svc  *witness.Service
}

func startBenchWitnesses(b *testing.B, n, shards int) []*benchWitness {
	var out []*benchWitness
	for i := range n {
		w := &benchWitness{dir: filepath.Join(b.TempDir(), "w")}
		name := fmt.Sprintf("w%d", i)
		if err := witness.Init(w.dir, name); err != nil {
			b.Fatal(err)
		}
		srv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) { w.svc.Handler().ServeHTTP(rw, r) }))
		b.Cleanup(srv.Close)
		id, err := witness.Load(w.dir)
		if err != nil {
			b.Fatal(err)
		}
		if w.keys, err = id.Export(srv.URL, shards); err != nil {
			b.Fatal(err)
		}
		out = append(out, w)
	}
	return out
}

func (w *benchWitness) open(b *testing.B, tf *trust.File) {
	id, err := witness.Load(w.dir)
	if err != nil {
		b.Fatal(err)
	}
	data, _ := json.Marshal(tf)
	if err := id.Pin(data); err != nil {
		b.Fatal(err)
	}
	if w.svc, err = witness.Open(context.Background(), w.dir, witness.Options{Log: slog.New(slog.NewTextHandler(io.Discard, nil))}); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { w.svc.Close() })
}

// BenchmarkUploadsWithWitnesses measures release uploads through the
// publisher with 0, 1 and 3 witnesses co-signing every timestamp (real
// witness services over HTTP on loopback, their state synced to disk), 64
// concurrent uploaders over 16 shards. An upload's latency is until its
// timestamp is served: its visibility to clients. Run:
//
//	go test ./publish -run '^$' -bench UploadsWithWitnesses -benchtime 3000x
func BenchmarkUploadsWithWitnesses(b *testing.B) {
	const uploaders, projects = 64, 512
	for _, w := range []int{0, 1, 3} {
		b.Run(fmt.Sprintf("witnesses=%d", w), func(b *testing.B) {
			br := newBenchRepoWith(b, projects, 16, w)
			var mu sync.Mutex
			var lat []time.Duration
			next := make(chan int)
			var wg sync.WaitGroup
			b.ResetTimer()
			start := time.Now()
			for u := range uploaders {
				wg.Add(1)
				go func() {
					defer wg.Done()
					n := 0
					for range next {
						// Each uploader owns the projects u, u+64, ...: one
						// upload at a time per project.
						p := u + uploaders*(n%(projects/uploaders))
						n++
						mu.Lock()
						c := br.nextRelease(b, p)
						mu.Unlock()
						t0 := time.Now()
						res, err := br.pub.Submit(context.Background(), c)
						d := time.Since(t0)
						if err != nil || res.Outcome != validation.Accept || res.Waiting != "" {
							b.Errorf("upload: %v %v %v %q", res.Outcome, res.Reason, err, res.Waiting)
							return
						}
						mu.Lock()
						lat = append(lat, d)
						mu.Unlock()
					}
				}()
			}
			for i := range b.N {
				next <- i
			}
			close(next)
			wg.Wait()
			elapsed := time.Since(start)
			b.StopTimer()
			slices.Sort(lat)
			if len(lat) > 0 {
				b.ReportMetric(float64(len(lat))/elapsed.Seconds(), "uploads/s")
				b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
				b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
			}
		})
	}
}
