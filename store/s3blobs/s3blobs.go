// Package s3blobs implements store.Blobs on a bucket of an S3-compatible
// object store (AWS S3, MinIO, versitygw, Ceph RGW, ...), so several
// server replicas share one copy of what is published and the bucket, or
// a CDN in front of it, serves downloads directly.
//
// A blob path p is stored as the object PREFIX/p, with the Cache-Control
// and Content-Type the server itself would send (layout.ServedHeaders):
// versioned metadata and content-addressed targets are cached for a year
// as immutable; timestamp.json and the trust file are revalidated. An S3
// PUT replaces an object atomically, so readers see the old blob or the
// new one. Credentials come from the environment (AWS_ACCESS_KEY_ID and
// AWS_SECRET_ACCESS_KEY, or MINIO_ROOT_USER and MINIO_ROOT_PASSWORD), the
// AWS shared credentials file, or the instance's IAM role.
package s3blobs

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"hallmark.dev/hallmark/layout"
	"hallmark.dev/hallmark/store"
)

// partSize is the buffer of an upload whose size is not known in advance
// (the SDK's default, sized for 5 TB objects, would be hundreds of MB).
const partSize = 16 << 20

// URLForm is the form of a bucket URL, for messages.
const URLForm = "s3://BUCKET/PREFIX?endpoint=http(s)://HOST:PORT&region=REGION"

// Bucket is a blob store in a bucket, below a prefix.
type Bucket struct {
	client *minio.Client
	bucket string
	prefix string // "" or ending in "/"
}

var _ store.Blobs = (*Bucket)(nil)

// Config is a parsed bucket URL.
type Config struct {
	Bucket   string
	Prefix   string
	Endpoint *url.URL // nil: AWS S3
	Region   string
}

// ParseURL parses s3://BUCKET/PREFIX?endpoint=URL&region=REGION. The
// prefix and the query are optional; without an endpoint the bucket is
// on AWS S3.
func ParseURL(raw string) (Config, error) {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "s3" || u.Host == "" || u.User != nil || u.Fragment != "" {
		return Config{}, fmt.Errorf("invalid bucket URL %q: want %s", raw, URLForm)
	}
	c := Config{Bucket: u.Host, Prefix: strings.Trim(u.Path, "/")}
	if c.Prefix != "" {
		if err := store.CheckBlobPath(c.Prefix); err != nil {
			return Config{}, fmt.Errorf("invalid prefix %q in bucket URL: %w", c.Prefix, err)
		}
		c.Prefix += "/"
	}
	q := u.Query()
	for k := range q {
		if k != "endpoint" && k != "region" {
			return Config{}, fmt.Errorf("unknown parameter %q in bucket URL %q: want %s", k, raw, URLForm)
		}
	}
	c.Region = q.Get("region")
	if e := q.Get("endpoint"); e != "" {
		c.Endpoint, err = url.Parse(e)
		if err != nil || (c.Endpoint.Scheme != "http" && c.Endpoint.Scheme != "https") || c.Endpoint.Host == "" || strings.Trim(c.Endpoint.Path, "/") != "" {
			return Config{}, fmt.Errorf("invalid endpoint %q in bucket URL: want http(s)://HOST:PORT", e)
		}
	}
	return c, nil
}

// Open connects to the bucket named by a URL (see ParseURL) and checks
// that it exists and that the credentials can read it.
func Open(ctx context.Context, raw string) (*Bucket, error) {
	c, err := ParseURL(raw)
	if err != nil {
		return nil, err
	}
	host, secure := "s3.amazonaws.com", true
	if c.Endpoint != nil {
		host, secure = c.Endpoint.Host, c.Endpoint.Scheme == "https"
	}
	client, err := minio.New(host, &minio.Options{
		Creds: credentials.NewChainCredentials([]credentials.Provider{
			&credentials.EnvAWS{}, &credentials.EnvMinio{}, &credentials.FileAWSCredentials{}, &credentials.IAM{},
		}),
		Secure: secure,
		Region: c.Region,
	})
	if err != nil {
		return nil, fmt.Errorf("failed to set up the S3 client for %s: %w", host, err)
	}
	ok, err := client.BucketExists(ctx, c.Bucket)
	if err != nil {
		return nil, fmt.Errorf("failed to reach bucket %s at %s: %w (credentials come from AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)", c.Bucket, host, err)
	}
	if !ok {
		return nil, fmt.Errorf("bucket %s does not exist at %s: create it first", c.Bucket, host)
	}
	return &Bucket{client: client, bucket: c.Bucket, prefix: c.Prefix}, nil
}

// key returns the object key of a blob path.
func (b *Bucket) key(p string) (string, error) {
	if err := store.CheckBlobPath(p); err != nil {
		return "", err
	}
	return b.prefix + p, nil
}

// notFound reports whether an S3 error says the object is not there.
func notFound(err error) bool {
	r := minio.ToErrorResponse(err)
	return r.StatusCode == http.StatusNotFound || r.Code == "NoSuchKey"
}

// size returns the length of what r will read, when it says (-1 if not).
func size(r io.Reader) int64 {
	switch r := r.(type) {
	case interface{ Len() int }:
		return int64(r.Len())
	case *os.File:
		st, err := r.Stat()
		if err != nil || !st.Mode().IsRegular() {
			return -1
		}
		pos, err := r.Seek(0, io.SeekCurrent)
		if err != nil {
			return -1
		}
		return st.Size() - pos
	}
	return -1
}

// Put implements store.Blobs.
func (b *Bucket) Put(ctx context.Context, p string, r io.Reader) error {
	key, err := b.key(p)
	if err != nil {
		return err
	}
	cacheControl, contentType := layout.ServedHeaders(p)
	_, err = b.client.PutObject(ctx, b.bucket, key, r, size(r), minio.PutObjectOptions{
		CacheControl: cacheControl, ContentType: contentType, PartSize: partSize,
		// Over plain HTTP the SDK would otherwise sign the body in
		// aws-chunked framing, and some servers (versitygw) then keep
		// "Content-Encoding: aws-chunked" on the object and serve it to
		// downloaders. TUF verifies every byte anyway; S3 still checks
		// the body against its checksum.
		DisableContentSha256: true,
	})
	if err != nil {
		return fmt.Errorf("failed to store %s: %w", p, err)
	}
	return nil
}

// blob is an object opened for reading.
type blob struct {
	io.ReadSeekCloser
	size int64
	mod  time.Time
}

func (o blob) Size() int64        { return o.size }
func (o blob) ModTime() time.Time { return o.mod }

// Open implements store.Blobs. The object is read as it was when opened:
// if it is replaced meanwhile, reads fail rather than mix two versions.
//
// An object up to smallObject bytes is read whole here, and read again
// from its new version if it was replaced between the stat and the read:
// the names the publisher rewrites (timestamp.json at every publication)
// are small, and a reader must get one whole version of them, never an
// error. Larger objects are immutable in the repository's layout and are
// streamed.
func (b *Bucket) Open(ctx context.Context, p string) (store.Blob, error) {
	key, err := b.key(p)
	if err != nil {
		return nil, store.ErrNotFound
	}
	for attempt := 1; ; attempt++ {
		info, err := b.client.StatObject(ctx, b.bucket, key, minio.StatObjectOptions{})
		if notFound(err) {
			return nil, store.ErrNotFound
		}
		if err != nil {
			return nil, fmt.Errorf("failed to read %s: %w", p, err)
		}
		if info.Size > smallObject {
			opts := minio.GetObjectOptions{}
			if info.ETag != "" {
				opts.SetMatchETag(info.ETag)
			}
			obj, err := b.client.GetObject(ctx, b.bucket, key, opts)
			if err != nil {
				return nil, fmt.Errorf("failed to read %s: %w", p, err)
			}
			return blob{ReadSeekCloser: obj, size: info.Size, mod: info.LastModified}, nil
		}
		// One GET, its length and date taken from its own answer: a
		// gateway may check a stat's ETag and then send a newer version
		// (versitygw's posix backend does), so the stat is only used to
		// choose this path.
		data, got, err := b.readSmall(ctx, key)
		switch {
		case err == nil && int64(len(data)) == got.Size:
			return blob{ReadSeekCloser: nopCloser{bytes.NewReader(data)}, size: got.Size, mod: got.LastModified}, nil
		case (err == nil || replaced(err)) && attempt < 5:
			continue // rewritten while it was read: read the new version
		case err == nil:
			err = fmt.Errorf("read %d bytes of %d", len(data), got.Size)
		}
		return nil, fmt.Errorf("failed to read %s: %w", p, err)
	}
}

// readSmall reads an object of at most smallObject bytes whole, with the
// object's description from the same answer.
func (b *Bucket) readSmall(ctx context.Context, key string) ([]byte, minio.ObjectInfo, error) {
	body, info, _, err := minio.Core{Client: b.client}.GetObject(ctx, b.bucket, key, minio.GetObjectOptions{})
	if err != nil {
		return nil, minio.ObjectInfo{}, err
	}
	defer body.Close()
	data, err := io.ReadAll(io.LimitReader(body, smallObject+1))
	return data, info, err
}

// smallObject bounds the objects Open reads whole.
const smallObject = 1 << 20

// replaced reports whether a read failed because the object changed since
// its stat (its ETag no longer matches, or it is gone).
func replaced(err error) bool {
	r := minio.ToErrorResponse(err)
	return r.StatusCode == http.StatusPreconditionFailed || r.Code == "PreconditionFailed" || notFound(err)
}

type nopCloser struct{ *bytes.Reader }

func (nopCloser) Close() error { return nil }

// Exists implements store.Blobs.
func (b *Bucket) Exists(ctx context.Context, p string) (bool, error) {
	key, err := b.key(p)
	if err != nil {
		return false, err
	}
	_, err = b.client.StatObject(ctx, b.bucket, key, minio.StatObjectOptions{})
	if notFound(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("failed to stat %s: %w", p, err)
	}
	return true, nil
}

// Bucket has no Stat method on purpose: the server keeps in-memory copies
// of served files only for blob stores that can tell cheaply and exactly
// whether a copy is still what is stored. An object's Last-Modified has
// whole seconds, and another replica (or an attacker with the bucket's
// keys) may rewrite timestamp.json within one second with the same
// length; so with a bucket every request is answered from the bucket.

// Delete implements store.Blobs; deleting a missing object is not an
// error.
func (b *Bucket) Delete(ctx context.Context, p string) error {
	key, err := b.key(p)
	if err != nil {
		return err
	}
	if err := b.client.RemoveObject(ctx, b.bucket, key, minio.RemoveObjectOptions{}); err != nil && !notFound(err) {
		return fmt.Errorf("failed to delete %s: %w", p, err)
	}
	return nil
}
