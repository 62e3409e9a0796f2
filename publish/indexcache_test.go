package publish_test

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"

	"hallmark.dev/hallmark/publish"
	"hallmark.dev/hallmark/store"
	"hallmark.dev/hallmark/store/blobdir"
)

// countingBlobs counts the reads of project indexes from the blob store.
type countingBlobs struct {
	*blobdir.Dir
	indexReads atomic.Int64
}

func (c *countingBlobs) Open(ctx context.Context, p string) (store.Blob, error) {
	if strings.HasSuffix(p, ".index.json") {
		c.indexReads.Add(1)
	}
	return c.Dir.Open(ctx, p)
}

// TestAuditLineReusesTheIndexJustPublished: a release's audit line
// compares the new index with the old one; the old one, published by the
// publisher's previous change of the project, is not read back from the
// blob store (a bucket request on S3), and the line is the same as when it
// is read after a restart.
func TestAuditLineReusesTheIndexJustPublished(t *testing.T) {
	r := newRepo(t)
	cb := &countingBlobs{Dir: r.blobs}
	r.restartPublisher(func(c *publish.Config) { c.Blobs = cb })
	r.mustAccept(createChange(t, "demo", alice, r.clock.Now()))
	r.mustAccept(r.planRelease("demo").add("1.0.0", map[string]string{"demo-1.0.0.tar.gz": "one"}).change(t, alice))

	lastAudit := func() string {
		t.Helper()
		audit, err := r.state.Audit(ctx, "demo", 1)
		if err != nil || len(audit) != 1 {
			t.Fatalf("audit: %v %v", audit, err)
		}
		return audit[0].Detail
	}
	before := cb.indexReads.Load()
	r.mustAccept(r.planRelease("demo").add("1.1.0", map[string]string{"demo-1.1.0.tar.gz": "two"}).change(t, alice))
	if n := cb.indexReads.Load() - before; n != 0 {
		t.Errorf("the old index was read %d times from the blob store; it was just published", n)
	}
	// Read with the old index, the line names only what changed.
	if warm := lastAudit(); !strings.HasPrefix(warm, "add release 1.1.0: 1 file(s)") || strings.Contains(warm, "1.0.0") {
		t.Errorf("audit line with the cached old index: %q", warm)
	}

	// After a restart the cache is empty: the old index is read, and the
	// line is the same.
	r.restartPublisher(func(c *publish.Config) { c.Blobs = cb })
	before = cb.indexReads.Load()
	r.mustAccept(r.planRelease("demo").add("1.2.0", map[string]string{"demo-1.2.0.tar.gz": "three"}).change(t, alice))
	if n := cb.indexReads.Load() - before; n == 0 {
		t.Errorf("after a restart the old index was not read; the test proves nothing")
	}
	if cold := lastAudit(); !strings.HasPrefix(cold, "add release 1.2.0: 1 file(s)") || strings.Contains(cold, "1.1.0") {
		t.Errorf("audit line with the old index read back: %q", cold)
	}
}
