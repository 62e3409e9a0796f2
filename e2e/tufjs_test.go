package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"hallmark.dev/hallmark/layout"
)

// tufJS runs e2e/tufjs/get.mjs: tuf-js (from npm, pinned in
// e2e/tufjs/package.json) downloading one target of one shard.
type tufJS struct {
	t           testing.TB
	node        string
	script      string
	metadataURL string
	targetsURL  string
	rootFile    string
}

// tufJSResult is one run of get.mjs.
type tufJSResult struct {
	Code           int
	Stdout, Stderr string
	Path           string
	Length         int64
	SHA256         string
}

func newTufJS(t testing.TB, node, dir string, srv *Server, shard string, root []byte) *tufJS {
	return &tufJS{
		t:           t,
		node:        node,
		script:      filepath.Join(dir, "get.mjs"),
		metadataURL: shardMetadataURL(srv, shard),
		targetsURL:  targetsURL(srv),
		rootFile:    WriteFile(t, t.TempDir(), "root.json", root),
	}
}

// get runs tuf-js for one target into output, with cache as its trusted
// metadata directory.
func (j *tufJS) get(target, output, cache string) tufJSResult {
	j.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, j.node, j.script, j.metadataURL, j.targetsURL, j.rootFile, target, output, cache)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	r := tufJSResult{Stdout: out.String(), Stderr: errb.String()}
	if ee, ok := err.(*exec.ExitError); ok && ctx.Err() == nil {
		r.Code = ee.ExitCode()
	} else if err != nil {
		j.t.Fatalf("node %s %s: %v\nstderr:\n%s", j.script, target, err, r.Stderr)
	}
	if r.Code == 0 {
		var js struct {
			Path   string `json:"path"`
			Length int64  `json:"length"`
			SHA256 string `json:"sha256"`
		}
		if err := json.Unmarshal(out.Bytes(), &js); err != nil {
			j.t.Fatalf("tuf-js output %q: %v", r.Stdout, err)
		}
		r.Path, r.Length, r.SHA256 = js.Path, js.Length, js.SHA256
	}
	return r
}

// mustGet downloads a target with tuf-js, checks what it reports, and
// returns the bytes it wrote.
func (j *tufJS) mustGet(target, cache string) []byte {
	j.t.Helper()
	output := filepath.Join(j.t.TempDir(), "out")
	r := j.get(target, output, cache)
	if r.Code != 0 {
		j.t.Fatalf("tuf-js failed to get %s: exit %d\nstderr:\n%s", target, r.Code, r.Stderr)
	}
	data, err := os.ReadFile(output)
	if err != nil {
		j.t.Fatalf("tuf-js reported success but wrote no %s: %v", target, err)
	}
	if r.Path != target || r.Length != int64(len(data)) || r.SHA256 != hexDigest(data) {
		j.t.Fatalf("tuf-js reports %s length %d sha256 %s; wrote %d bytes, sha256 %s", r.Path, r.Length, r.SHA256, len(data), hexDigest(data))
	}
	return data
}

// TestTufJSReadsRepository: tuf-js, the npm TUF client, starting from a
// shard's version-1 root, downloads and verifies what a maintainer published
// through the CLI (release files and the project index), follows a later
// upload over its cached metadata, refuses a root of another shard, and
// refuses artifacts tampered on the server's disk.
func TestTufJSReadsRepository(t *testing.T) {
	node, dir := needNodeProject(t, "tufjs")

	srv := StartServer(t)
	alice := NewMaintainer(t, srv, "alice")
	alice.MustRun("project", "create", "TufJS.Demo", "--key", "alice")
	project := "tufjs-demo"

	files := t.TempDir()
	v1 := map[string][]byte{
		"tufjs-demo-1.0.0.tgz": randomContent(t, 1<<20),
		"README.md":            []byte("# tufjs-demo 1.0.0\n"),
	}
	var paths []string
	for name, content := range v1 {
		paths = append(paths, WriteFile(t, files, name, content))
	}
	alice.MustRun(append([]string{"release", "upload", project, "1.0.0", "--key", "alice"}, paths...)...)

	tr := fetchTrust(t, srv)
	shard := layout.ShardOf(project, tr.Shards)
	root := fetchInitialRoot(t, srv, tr, shard)
	js := newTufJS(t, node, dir, srv, shard, root)
	cache := t.TempDir()

	for name, content := range v1 {
		target := layout.FilePath(project, "1.0.0", name)
		if got := js.mustGet(target, cache); !bytes.Equal(got, content) {
			t.Fatalf("tuf-js downloaded %s with other bytes than were uploaded", target)
		}
	}
	checkIndexLists(t, js.mustGet(layout.IndexPath(project), cache), project, map[string]map[string][]byte{"1.0.0": v1})

	// A target that was never published is not found (exit 2).
	if r := js.get(layout.FilePath(project, "1.0.0", "nope.tgz"), filepath.Join(t.TempDir(), "out"), cache); r.Code != 2 || !strings.Contains(r.Stderr, "not found") {
		t.Fatalf("tuf-js on a target never published: exit %d, stderr %q; want exit 2, not found", r.Code, r.Stderr)
	}

	// A later upload is seen over the cached metadata.
	v2 := map[string][]byte{"tufjs-demo-1.1.0.tgz": randomContent(t, 4<<10)}
	alice.MustRun("release", "upload", project, "1.1.0", WriteFile(t, files, "tufjs-demo-1.1.0.tgz", v2["tufjs-demo-1.1.0.tgz"]), "--key", "alice")
	if got := js.mustGet(layout.FilePath(project, "1.1.0", "tufjs-demo-1.1.0.tgz"), cache); !bytes.Equal(got, v2["tufjs-demo-1.1.0.tgz"]) {
		t.Fatal("tuf-js downloaded 1.1.0 with other bytes than were uploaded")
	}
	checkIndexLists(t, js.mustGet(layout.IndexPath(project), cache), project, map[string]map[string][]byte{"1.0.0": v1, "1.1.0": v2})

	// The root of another shard does not verify this shard's metadata.
	other := otherShardThan(t, tr.Shards, shard)
	mixed := newTufJS(t, node, dir, srv, shard, fetchInitialRoot(t, srv, tr, other))
	// Two signatures needed: the online key and the witness (none verify).
	if r := mixed.get(layout.IndexPath(project), filepath.Join(t.TempDir(), "out"), t.TempDir()); r.Code != 1 || !strings.Contains(r.Stderr, "timestamp was signed by 0/2 keys") {
		t.Fatalf("tuf-js with shard %s's root read shard %s: exit %d\nstdout: %s\nstderr: %s", other, shard, r.Code, r.Stdout, r.Stderr)
	} else {
		t.Logf("tuf-js refused another shard's root: %s", strings.TrimSpace(r.Stderr))
	}

	// A tampered artifact is refused by a fresh client and by the one with
	// cached metadata, and nothing is written.
	target := layout.FilePath(project, "1.0.0", "tufjs-demo-1.0.0.tgz")
	orig := v1["tufjs-demo-1.0.0.tgz"]
	blob := srv.BlobPath("targets/" + layout.TargetBlobPath(target, hexDigest(orig)))
	if onDisk, err := os.ReadFile(blob); err != nil || !bytes.Equal(onDisk, orig) {
		t.Fatalf("blob of %s is not at %s (err %v)", target, blob, err)
	}
	sameLength := bytes.Clone(orig)
	sameLength[12345] ^= 0xff
	// want is tuf-js 5.0.1's reason for refusing each.
	for _, tc := range []struct {
		name string
		data []byte
		want string
	}{
		{"same length", sameLength, "Expected hash " + hexDigest(orig) + " but got " + hexDigest(sameLength)},
		{"longer", append(bytes.Clone(orig), 'x'), "Max length reached"},
		{"shorter", orig[:len(orig)-1], "Expected length"},
	} {
		if err := os.WriteFile(blob, tc.data, 0o644); err != nil {
			t.Fatal(err)
		}
		if served := staticGet(t, targetsURL(srv)+layout.TargetBlobPath(target, hexDigest(orig))); !bytes.Equal(served, tc.data) {
			t.Fatalf("%s: the server does not serve the tampered blob; the test would prove nothing", tc.name)
		}
		for who, c := range map[string]string{"fresh client": t.TempDir(), "cached client": cache} {
			output := filepath.Join(t.TempDir(), "out")
			r := js.get(target, output, c)
			if r.Code == 0 {
				t.Fatalf("%s: %s: tuf-js accepted a tampered %s", tc.name, who, target)
			}
			if r.Code != 1 || !strings.Contains(r.Stderr, tc.want) {
				t.Fatalf("%s: %s: tuf-js failed in an unexpected way: exit %d\nstderr:\n%s", tc.name, who, r.Code, r.Stderr)
			}
			if _, err := os.Stat(output); err == nil {
				t.Fatalf("%s: %s: tuf-js wrote a tampered %s", tc.name, who, target)
			}
			t.Logf("%s: %s: tuf-js refused: %s", tc.name, who, strings.TrimSpace(r.Stderr))
		}
	}
	if err := os.WriteFile(blob, orig, 0o644); err != nil {
		t.Fatal(err)
	}
	if got := js.mustGet(target, cache); !bytes.Equal(got, orig) {
		t.Fatalf("after restoring the blob, %s differs", target)
	}
}
