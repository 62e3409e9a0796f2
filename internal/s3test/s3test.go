// Package s3test starts a throwaway S3 server for tests: versitygw with
// its posix backend on a temporary directory and a free port of
// 127.0.0.1, one new bucket per test. The posix backend keeps each
// object as a plain file, DIR/BUCKET/KEY, so tests can read and tamper
// with what the bucket serves as an attacker with access to the storage
// would.
package s3test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"go/build"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"hallmark.dev/hallmark/internal/testenv"
)

// Install says how to install what Start needs.
const Install = "install versitygw: go install github.com/versity/versitygw/cmd/versitygw@v1.8.0"

// ErrMissing is returned by Start when versitygw is not installed.
var ErrMissing = errors.New("versitygw is not installed")

// Region is the region of the test buckets.
const Region = "us-east-1"

// Gateway is a running versitygw.
type Gateway struct {
	// Endpoint is its URL, http://127.0.0.1:PORT.
	Endpoint string
	// Dir holds the buckets: DIR/BUCKET/KEY is an object's file.
	Dir string
	// AccessKey and SecretKey are the root credentials.
	AccessKey, SecretKey string

	cmd     *exec.Cmd
	done    chan struct{} // closed when the process has exited
	log     bytes.Buffer
	buckets atomic.Int64
}

// binary finds versitygw in PATH or in the go install directory.
func binary() (string, error) {
	if p, err := exec.LookPath("versitygw"); err == nil {
		return p, nil
	}
	dir := os.Getenv("GOBIN")
	if dir == "" {
		dir = filepath.Join(build.Default.GOPATH, "bin")
	}
	p := filepath.Join(dir, "versitygw")
	if _, err := os.Stat(p); err != nil {
		return "", ErrMissing
	}
	return p, nil
}

// Start starts versitygw on a new temporary directory.
func Start(ctx context.Context) (*Gateway, error) {
	bin, err := binary()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "hallmark-s3-")
	if err != nil {
		return nil, err
	}
	g := &Gateway{Dir: filepath.Join(dir, "buckets"), AccessKey: "hallmark-test", SecretKey: randomHex(16)}
	if err := os.Mkdir(g.Dir, 0o755); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	for range 3 { // a free port may be taken before versitygw binds it
		var addr string
		if addr, err = freeAddr(); err != nil {
			break
		}
		g.Endpoint = "http://" + addr
		g.log.Reset()
		g.cmd = exec.Command(bin, "--port", addr, "posix", g.Dir)
		g.cmd.Env = append(os.Environ(), "ROOT_ACCESS_KEY="+g.AccessKey, "ROOT_SECRET_KEY="+g.SecretKey)
		g.cmd.Stdout, g.cmd.Stderr = &g.log, &g.log
		// If the test binary dies, so does the gateway.
		g.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		if err = g.cmd.Start(); err != nil {
			break
		}
		g.done = make(chan struct{})
		go func(cmd *exec.Cmd, done chan struct{}) { cmd.Wait(); close(done) }(g.cmd, g.done)
		if err = g.waitReady(ctx); err == nil {
			return g, nil
		}
		g.kill()
	}
	os.RemoveAll(dir)
	return nil, fmt.Errorf("versitygw did not start: %w\n%s", err, g.log.String())
}

// waitReady waits until the gateway answers HTTP.
func (g *Gateway) waitReady(ctx context.Context) error {
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-g.done:
			return errors.New("versitygw exited")
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		if resp, err := http.Get(g.Endpoint); err == nil {
			resp.Body.Close()
			return nil
		}
	}
	return errors.New("versitygw did not answer within 30s")
}

func (g *Gateway) kill() {
	g.cmd.Process.Kill()
	<-g.done
}

// Stop stops the gateway and removes its directory.
func (g *Gateway) Stop() error {
	g.kill()
	return os.RemoveAll(filepath.Dir(g.Dir))
}

func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// Env returns the environment variables that give a client (a `hallmark
// serve` process, s3blobs.Open) the gateway's credentials.
func (g *Gateway) Env() []string {
	return []string{"AWS_ACCESS_KEY_ID=" + g.AccessKey, "AWS_SECRET_ACCESS_KEY=" + g.SecretKey}
}

// Bucket is a bucket of the gateway for one test.
type Bucket struct {
	// Name is the bucket's name.
	Name string
	// Prefix is where the blobs are, "" or ending in "/".
	Prefix string
	// HTTP is the bucket's URL below the prefix for plain HTTP GETs
	// (path-style: ENDPOINT/BUCKET/PREFIX), ending in "/".
	HTTP string
	// URL is the s3:// URL of the bucket below the prefix, as --blobs
	// takes it.
	URL string
	// Dir is the directory of the objects below the prefix: the object of
	// blob path p is the file Dir/p.
	Dir string
}

// NewBucket creates an empty bucket; blobs go below prefix ("" for none).
func (g *Gateway) NewBucket(ctx context.Context, prefix string) (Bucket, error) {
	name := fmt.Sprintf("hallmark-%d", g.buckets.Add(1))
	client, err := g.client()
	if err != nil {
		return Bucket{}, err
	}
	if err := client.MakeBucket(ctx, name, minio.MakeBucketOptions{Region: Region}); err != nil {
		return Bucket{}, fmt.Errorf("failed to create bucket %s: %w", name, err)
	}
	b := Bucket{Name: name, Dir: filepath.Join(g.Dir, name, filepath.FromSlash(prefix))}
	if prefix != "" {
		b.Prefix = prefix + "/"
	}
	b.HTTP = g.Endpoint + "/" + name + "/" + b.Prefix
	b.URL = fmt.Sprintf("s3://%s/%s?endpoint=%s&region=%s", name, prefix, g.Endpoint, Region)
	return b, nil
}

// client returns an S3 client with the root credentials.
func (g *Gateway) client() (*minio.Client, error) {
	return minio.New(g.Endpoint[len("http://"):], &minio.Options{
		Creds: credentials.NewStaticV4(g.AccessKey, g.SecretKey, ""), Region: Region,
	})
}

// AllowPublicRead lets anyone read the objects below the given
// directories of a bucket's prefix ("metadata", "targets") without
// credentials, as a bucket serving downloads directly (or a CDN's origin)
// is set up; everything else stays private.
func (g *Gateway) AllowPublicRead(ctx context.Context, b Bucket, dirs ...string) error {
	c, err := g.client()
	if err != nil {
		return err
	}
	var resources []string
	for _, d := range dirs {
		resources = append(resources, fmt.Sprintf(`"arn:aws:s3:::%s/%s%s/*"`, b.Name, b.Prefix, d))
	}
	policy := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":["s3:GetObject"],"Resource":[` +
		strings.Join(resources, ",") + `]}]}`
	return c.SetBucketPolicy(ctx, b.Name, policy)
}

// CopyBucket copies every object below from's prefix to the same keys
// below to's prefix, metadata (Cache-Control, Content-Type) included: the
// restore of a bucket from its versions or a replica.
func (g *Gateway) CopyBucket(ctx context.Context, from, to Bucket) (int, error) {
	c, err := g.client()
	if err != nil {
		return 0, err
	}
	n := 0
	for obj := range c.ListObjects(ctx, from.Name, minio.ListObjectsOptions{Prefix: from.Prefix, Recursive: true}) {
		if obj.Err != nil {
			return n, obj.Err
		}
		dst := minio.CopyDestOptions{Bucket: to.Name, Object: to.Prefix + strings.TrimPrefix(obj.Key, from.Prefix)}
		if _, err := c.CopyObject(ctx, dst, minio.CopySrcOptions{Bucket: from.Name, Object: obj.Key}); err != nil {
			return n, fmt.Errorf("failed to copy %s: %w", obj.Key, err)
		}
		n++
	}
	return n, nil
}

// shared is the gateway of one test binary, started by the first Need.
var shared struct {
	sync.Mutex
	g   *Gateway
	err error
}

// Need returns the gateway the tests of this package share, starting it
// on first use. When versitygw is not installed the test skips naming
// what to install, or fails under HALLMARK_TEST_ALL=1. The package's
// TestMain must call StopShared after m.Run.
func Need(t testing.TB) *Gateway {
	t.Helper()
	shared.Lock()
	defer shared.Unlock()
	if shared.g == nil && shared.err == nil {
		shared.g, shared.err = Start(context.Background())
	}
	testenv.NeedTool(t, "versitygw (an S3 server)", Install, !errors.Is(shared.err, ErrMissing))
	if shared.err != nil {
		t.Fatalf("failed to start versitygw: %v", shared.err)
	}
	return shared.g
}

// NewBucket creates a bucket in the shared gateway (see Need).
func NewBucket(t testing.TB, prefix string) Bucket {
	t.Helper()
	b, err := Need(t).NewBucket(context.Background(), prefix)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// StopShared stops the shared gateway, if Need started one: call it from
// TestMain after m.Run.
func StopShared() {
	shared.Lock()
	defer shared.Unlock()
	if shared.g != nil {
		if err := shared.g.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "s3test:", err)
		}
		shared.g = nil
	}
}
