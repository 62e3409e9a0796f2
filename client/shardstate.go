package client

import (
	"context"
	"fmt"

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
	if s.Targets == nil || s.Claimed == nil || s.New == nil {
		return nil, &VerificationError{Shard: shard, Err: fmt.Errorf("the shard's bins could not be loaded")}
	}
	return s, nil
}
