package client

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"hallmark.dev/hallmark/layout"
	"hallmark.dev/hallmark/tufmeta"
)

// ShardState is a shard's verified top-level metadata and both bins: what
// an admin's tool builds a ceremony on.
type ShardState struct {
	Shard   string
	Root    *tufmeta.Root
	Targets *tufmeta.Targets
	Claimed *tufmeta.Targets
	New     *tufmeta.Targets
	// TimestampVersion is the version of the verified timestamp: what the
	// witnesses co-signed, at least.
	TimestampVersion int64
}

// probePath matches both bins' patterns ("*/*") and no project's, so
// looking it up loads and verifies both bins.
const probePath = "-/-"

// Shard refreshes a shard and returns its verified state.
func (c *Client) Shard(ctx context.Context, shard string) (*ShardState, error) {
	up, err := c.refresh(ctx, shard)
	if err != nil {
		return nil, err
	}
	if _, err := up.up.GetTargetInfo(probePath); err != nil && isVerification(err) {
		return nil, explain(shard, err)
	}
	if err := up.checkIdentity(c.trust.Shards); err != nil {
		return nil, err
	}
	tm := up.up.GetTrustedMetadataSet()
	s := &ShardState{Shard: shard, Root: tm.Root, Targets: tm.Targets[layout.RoleTargets],
		Claimed: tm.Targets[layout.ClaimedRole(shard)], New: tm.Targets[layout.NewRole(shard)]}
	if tm.Timestamp != nil {
		s.TimestampVersion = tm.Timestamp.Signed.Version
	}
	if s.Targets == nil || s.Claimed == nil || s.New == nil {
		return nil, &VerificationError{Shard: shard, Err: fmt.Errorf("the shard's bins could not be loaded")}
	}
	return s, nil
}

// FetchUnverified fetches one metadata file of a shard as the server
// serves it, unverified: the caller verifies it (an old version of a role,
// say, against the keys that were in force). It returns nil and no error
// when the server has no such file.
func (c *Client) FetchUnverified(ctx context.Context, shard, file string) ([]byte, error) {
	b, err := get(ctx, c.http, MetadataURL(c.repo, shard)+file, tufmeta.MaxRoleSize, c.timeout)
	var he *HTTPError
	if errors.As(err, &he) && he.Status == http.StatusNotFound {
		return nil, nil
	}
	return b, err
}
