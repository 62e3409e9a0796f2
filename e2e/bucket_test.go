package e2e

import (
	"bytes"
	"context"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"hallmark.dev/hallmark/internal/s3test"
	"hallmark.dev/hallmark/layout"
)

// bucketGet fetches a URL of the bucket without credentials, returning
// the status, headers and body.
func bucketGet(t testing.TB, u string) (int, http.Header, []byte) {
	t.Helper()
	c := &http.Client{Timeout: 30 * time.Second}
	resp, err := c.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body bytes.Buffer
	body.ReadFrom(resp.Body)
	return resp.StatusCode, resp.Header, body.Bytes()
}

// With --blobs s3://..., the bucket itself (or a CDN in front of it)
// serves downloads: go-tuf's updater, pinned to the root the server
// publishes, reads every shard's metadata and the targets from the
// bucket's plain HTTP URLs, follows a later upload, and refuses an object
// tampered in the bucket. Immutable names carry a year of caching, the
// names every publication rewrites carry "no-cache", and what is not
// published (pending uploads) stays private.
func TestGoTUFReadsTheBucketDirectly(t *testing.T) {
	if _, s3 := backend(t); !s3 {
		t.Skipf("the servers keep their blobs in a directory; this test runs with %s=postgres+s3", backendEnv)
	}
	srv := StartServer(t)
	b := *srv.Bucket
	if err := s3test.Need(t).AllowPublicRead(context.Background(), b, "metadata", "targets"); err != nil {
		t.Fatal(err)
	}
	alice := NewMaintainer(t, srv, "alice")
	alice.MustRun("project", "create", "bucket-demo", "--key", "alice")
	dir := t.TempDir()
	v1 := map[string][]byte{"bucket-demo-1.0.0.tar.gz": randomContent(t, 100<<10)}
	alice.MustRun("release", "upload", "bucket-demo", "1.0.0", WriteFile(t, dir, "bucket-demo-1.0.0.tar.gz", v1["bucket-demo-1.0.0.tar.gz"]), "--key", "alice")

	tr := fetchTrust(t, srv)
	shard := layout.ShardOf("bucket-demo", tr.Shards)
	root := fetchInitialRoot(t, srv, tr, shard) // what a user pins comes from the repository
	local := t.TempDir()
	client := &goTUF{t: t, metadataURL: b.HTTP + "metadata/" + shard + "/", targetsURL: b.HTTP + "targets/",
		metaDir: filepath.Join(local, "metadata"), targetsDir: filepath.Join(local, "targets"), root: root}

	up := client.refresh()
	target := layout.FilePath("bucket-demo", "1.0.0", "bucket-demo-1.0.0.tar.gz")
	if got := client.download(up, target); !bytes.Equal(got, v1["bucket-demo-1.0.0.tar.gz"]) {
		t.Fatal("go-tuf downloaded other bytes from the bucket than were uploaded")
	}
	checkIndexLists(t, client.download(up, layout.IndexPath("bucket-demo")), "bucket-demo", map[string]map[string][]byte{"1.0.0": v1})

	snapshot := layout.MetadataFile(layout.RoleSnapshot, up.GetTrustedMetadataSet().Snapshot.Signed.Version)
	for _, p := range []string{
		layout.MetadataBlobPath(shard, "timestamp.json"),
		layout.MetadataBlobPath(shard, snapshot),
		layout.MetadataBlobPath(shard, "1.root.json"),
		"targets/" + layout.TargetBlobPath(target, hexDigest(v1["bucket-demo-1.0.0.tar.gz"])),
	} {
		status, h, _ := bucketGet(t, b.HTTP+p)
		wantCache, wantType := layout.ServedHeaders(p)
		if status != http.StatusOK || h.Get("Cache-Control") != wantCache || h.Get("Content-Type") != wantType || h.Get("Content-Encoding") != "" {
			t.Errorf("bucket serves %s: %d, Cache-Control %q, Content-Type %q, Content-Encoding %q; want 200, %q, %q, none",
				p, status, h.Get("Cache-Control"), h.Get("Content-Type"), h.Get("Content-Encoding"), wantCache, wantType)
		}
	}
	// Only metadata and targets are public.
	bucketRoot := b.HTTP[:len(b.HTTP)-len(b.Prefix)]
	for _, u := range []string{b.HTTP + "pending/x", b.HTTP, bucketRoot} {
		if status, _, _ := bucketGet(t, u); status != http.StatusForbidden {
			t.Errorf("GET %s without credentials: %d; want 403", u, status)
		}
	}

	// A later upload is visible from the bucket to the same client.
	v2 := map[string][]byte{"bucket-demo-1.0.1.tar.gz": []byte("1.0.1\n")}
	alice.MustRun("release", "upload", "bucket-demo", "1.0.1", WriteFile(t, dir, "bucket-demo-1.0.1.tar.gz", v2["bucket-demo-1.0.1.tar.gz"]), "--key", "alice")
	up = client.refresh()
	checkIndexLists(t, client.download(up, layout.IndexPath("bucket-demo")), "bucket-demo", map[string]map[string][]byte{"1.0.0": v1, "1.0.1": v2})

	// An attacker with write access to the bucket swaps the artifact (same
	// length): go-tuf refuses it.
	evil := bytes.Repeat([]byte("x"), len(v1["bucket-demo-1.0.0.tar.gz"]))
	if err := os.WriteFile(srv.BlobPath("targets/"+layout.TargetBlobPath(target, hexDigest(v1["bucket-demo-1.0.0.tar.gz"]))), evil, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, served := bucketGet(t, b.HTTP+"targets/"+layout.TargetBlobPath(target, hexDigest(v1["bucket-demo-1.0.0.tar.gz"]))); !bytes.Equal(served, evil) {
		t.Fatal("the bucket does not serve the tampered object; the test would prove nothing")
	}
	os.RemoveAll(client.targetsDir)
	info, err := up.GetTargetInfo(target)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := up.DownloadTarget(info, "", ""); err == nil {
		t.Error("go-tuf accepted an artifact tampered in the bucket")
	}
}
