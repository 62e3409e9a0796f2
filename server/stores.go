package server

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"

	"hallmark.dev/hallmark/store"
	"hallmark.dev/hallmark/store/blobdir"
	"hallmark.dev/hallmark/store/postgres"
	"hallmark.dev/hallmark/store/s3blobs"
	"hallmark.dev/hallmark/store/sqlite"
)

// CheckDatabaseURL refuses a --database value that names no supported
// store, saying what to give instead.
func CheckDatabaseURL(url string) error {
	if url == "" || strings.HasPrefix(url, "postgres://") || strings.HasPrefix(url, "postgresql://") {
		return nil
	}
	return fmt.Errorf("unsupported database %q: give a PostgreSQL URL (postgres://USER:PASSWORD@HOST:PORT/DATABASE), or leave --database out for the embedded SQLite store", redact(url))
}

// redact drops a URL's password before it is shown.
func redact(url string) string {
	at := strings.LastIndex(url, "@")
	scheme := strings.Index(url, "://")
	if at < 0 || scheme < 0 || at < scheme {
		return url
	}
	cred := url[scheme+3 : at]
	if user, _, ok := strings.Cut(cred, ":"); ok {
		return url[:scheme+3] + user + ":xxxxx" + url[at:]
	}
	return url
}

// StoreError is returned by OpenRepo when the state or blob store cannot
// be opened.
type StoreError struct{ Err error }

func (e *StoreError) Error() string { return e.Err.Error() }

// Unwrap returns the underlying error.
func (e *StoreError) Unwrap() error { return e.Err }

// embedded reports whether the options keep the state in the data
// directory (SQLite), which then belongs to one server at a time.
func (o OpenOptions) embedded() bool { return o.Database == "" }

// openStores opens the state and blob stores: SQLite and a directory
// inside dir by default, or those named by o.Database and o.Blobs.
func openStores(ctx context.Context, dir string, o OpenOptions) (store.State, store.Blobs, error) {
	st, blobs, err := openStoresOf(ctx, dir, o)
	if err != nil {
		return nil, nil, &StoreError{Err: err}
	}
	return st, blobs, nil
}

func openStoresOf(ctx context.Context, dir string, o OpenOptions) (store.State, store.Blobs, error) {
	if err := CheckDatabaseURL(o.Database); err != nil {
		return nil, nil, err
	}
	var st store.State
	var err error
	if o.embedded() {
		st, err = sqlite.Open(ctx, filepath.Join(dir, stateFile))
	} else {
		st, err = postgres.Open(ctx, o.Database)
	}
	if err != nil {
		return nil, nil, err
	}
	blobs, err := openBlobs(ctx, dir, o.Blobs)
	if err != nil {
		st.Close()
		return nil, nil, err
	}
	return st, blobs, nil
}

// openBlobs opens the blob store named by url, by default the blobs
// directory inside dir.
func openBlobs(ctx context.Context, dir, url string) (store.Blobs, error) {
	switch {
	case url == "":
		return blobdir.Open(filepath.Join(dir, blobsDir))
	case strings.HasPrefix(url, "s3://"):
		return s3blobs.Open(ctx, url)
	default:
		return nil, fmt.Errorf("unsupported blob store %q: give %s, or leave --blobs out for the blobs directory inside --data", url, s3blobs.URLForm)
	}
}
