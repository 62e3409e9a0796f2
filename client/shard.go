package client

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/theupdateframework/go-tuf/v2/metadata"
	"github.com/theupdateframework/go-tuf/v2/metadata/config"
	"github.com/theupdateframework/go-tuf/v2/metadata/updater"

	"hallmark.dev/hallmark/internal/atomicfile"
	"hallmark.dev/hallmark/layout"
	"hallmark.dev/hallmark/trust"
)

// shardUpdater is a refreshed go-tuf updater for one shard.
type shardUpdater struct {
	shard string
	up    *updater.Updater
}

func (c *Client) shardDir(shard string) string { return filepath.Join(c.dir, "shards", shard) }

// MetadataURL is the URL of a shard's metadata directory.
func MetadataURL(repo, shard string) string { return repo + "/metadata/" + shard + "/" }

// TargetsURL is the URL of the repository's targets directory.
func TargetsURL(repo string) string { return repo + "/targets/" }

// trustedRoot returns the shard's trusted root: the one go-tuf persisted
// after the last refresh, or, on first use, the pinned root version fetched
// from the server and verified against the pin.
func (c *Client) trustedRoot(ctx context.Context, shard string) ([]byte, error) {
	dir := filepath.Join(c.shardDir(shard), "metadata")
	local, err := os.ReadFile(filepath.Join(dir, "root.json"))
	if err == nil {
		return local, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	u := MetadataURL(c.repo, shard) + strconv.FormatInt(c.trust.ShardRootVersion(shard), 10) + ".root.json"
	data, err := get(ctx, c.http, u, 512<<10, c.timeout)
	if err != nil {
		return nil, fmt.Errorf("failed to fetch the root of shard %s: %w", shard, err)
	}
	if _, err := c.trust.CheckShardRoot(shard, data); err != nil {
		return nil, &VerificationError{Shard: shard, Err: err}
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	if err := atomicfile.Write(filepath.Join(dir, "root.json"), data, 0o600); err != nil {
		return nil, err
	}
	return data, nil
}

// refresh builds a new updater for the shard and refreshes its top-level
// metadata (go-tuf updaters refresh once, so every call makes a new one).
func (c *Client) refresh(ctx context.Context, shard string) (*shardUpdater, error) {
	if !layout.IsShardID(shard, c.trust.Shards) {
		return nil, fmt.Errorf("no shard %q in a repository of %d shards", shard, c.trust.Shards)
	}
	root, err := c.trustedRoot(ctx, shard)
	if err != nil {
		return nil, err
	}
	cfg, err := config.New(MetadataURL(c.repo, shard), root)
	if err != nil {
		return nil, err
	}
	cfg.LocalMetadataDir = filepath.Join(c.shardDir(shard), "metadata")
	cfg.LocalTargetsDir = filepath.Join(c.shardDir(shard), "targets")
	cfg.RemoteTargetsURL = TargetsURL(c.repo)
	cfg.PrefixTargetsWithHash = true
	cfg.Fetcher = &fetcher{ctx: ctx, http: c.http, timeout: c.timeout}
	if err := cfg.EnsurePathsExist(); err != nil {
		return nil, err
	}
	up, err := updater.New(cfg)
	if err != nil {
		return nil, fmt.Errorf("shard %s: the trusted root is not valid: %w", shard, err)
	}
	if err := up.Refresh(); err != nil {
		return nil, explain(shard, err)
	}
	s := &shardUpdater{shard: shard, up: up}
	if err := s.checkIdentity(c.trust.Shards); err != nil {
		return nil, err
	}
	return s, nil
}

// checkIdentity checks that every loaded offline-signed role of the shard
// names this shard: root, targets and, once loaded, the claimed bin.
func (s *shardUpdater) checkIdentity(shards int) error {
	tm := s.up.GetTrustedMetadataSet()
	if err := trust.CheckIdentity("root", tm.Root.Signed.UnrecognizedFields, s.shard, shards); err != nil {
		return err
	}
	for _, role := range []string{layout.RoleTargets, layout.ClaimedRole(s.shard), layout.NewRole(s.shard)} {
		if md := tm.Targets[role]; md != nil {
			if err := trust.CheckIdentity(role, md.Signed.UnrecognizedFields, s.shard, shards); err != nil {
				return err
			}
		}
	}
	return nil
}

// ErrBlocked is returned for a project the repository's admins blocked.
var ErrBlocked = errors.New("the project is blocked")

// VerificationError is a failure to verify the repository's metadata: the
// server or the network served something the pinned trust does not allow.
type VerificationError struct {
	Shard string
	Err   error
}

func (e *VerificationError) Error() string {
	return fmt.Sprintf("shard %s failed verification: %v", e.Shard, e.Err)
}

func (e *VerificationError) Unwrap() error { return e.Err }

func explain(shard string, err error) error {
	var dl *metadata.ErrDownloadHTTP
	var exp *metadata.ErrExpiredMetadata
	var bv *metadata.ErrBadVersionNumber
	switch {
	case errors.As(err, &exp):
		return &VerificationError{Shard: shard, Err: fmt.Errorf("metadata has expired (%v): the repository is stale or someone is replaying old metadata", err)}
	case errors.As(err, &bv):
		// go-tuf's message alone reads backwards ("expected X version 2, got 3"
		// when version 2 is served after 3 was seen): say what it means.
		return &VerificationError{Shard: shard, Err: fmt.Errorf("metadata was rolled back or mixed with other versions (%v): someone is serving older metadata than you have already seen", err)}
	case errors.As(err, &dl) && dl.StatusCode == http.StatusGone:
		return fmt.Errorf("%w (the repository serves the project as blocked by its admins)", ErrBlocked)
	case errors.As(err, &dl):
		return &NetworkError{URL: dl.URL, Status: dl.StatusCode, Err: err}
	}
	var ne *NetworkError
	if errors.As(err, &ne) {
		return ne
	}
	return &VerificationError{Shard: shard, Err: err}
}

// fetcher implements go-tuf's fetcher with a context and no retries, and
// the error type go-tuf expects for a missing file.
type fetcher struct {
	ctx     context.Context
	http    *http.Client
	timeout time.Duration
}

// DownloadFile implements go-tuf's fetcher.Fetcher.
func (f *fetcher) DownloadFile(u string, maxLength int64, _ time.Duration) ([]byte, error) {
	data, err := get(f.ctx, f.http, u, maxLength, f.timeout)
	var he *HTTPError
	if errors.As(err, &he) {
		return nil, &metadata.ErrDownloadHTTP{StatusCode: he.Status, URL: u}
	}
	var tl *TooLargeError
	if errors.As(err, &tl) {
		return nil, &metadata.ErrDownloadLengthMismatch{Msg: err.Error()}
	}
	return data, err
}
