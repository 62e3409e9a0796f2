// Package maintainer holds the commands a project's maintainers run on
// their own machines: create a project, upload a release. Each builds the
// proposed metadata from the state it learned through TUF verification
// (package client) — never from what the server says — checks it with the
// same validation the server runs, explains it, signs it and submits it.
package maintainer

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"

	"github.com/theupdateframework/go-tuf/v2/metadata"

	"hallmark.dev/hallmark/api"
	"hallmark.dev/hallmark/client"
	"hallmark.dev/hallmark/layout"
	"hallmark.dev/hallmark/signing"
	"hallmark.dev/hallmark/tufmeta"
	"hallmark.dev/hallmark/validation"
)

// Tool signs and submits changes to one repository.
type Tool struct {
	Client *client.Client
	HTTP   *http.Client
	Policy layout.Policy
	Now    func() time.Time
	// RegistrationToken is sent when creating a project, for repositories
	// whose settings require one.
	RegistrationToken string
}

func (t *Tool) now() time.Time {
	if t.Now != nil {
		return t.Now()
	}
	return time.Now()
}

func (t *Tool) httpClient() *http.Client {
	if t.HTTP != nil {
		return t.HTTP
	}
	return http.DefaultClient
}

func (t *Tool) policy() layout.Policy {
	if t.Policy == (layout.Policy{}) {
		return layout.DefaultPolicy()
	}
	return t.Policy
}

// Created describes a created project.
type Created struct {
	Project string
	Shard   string
	Outcome *Outcome
}

// CreateProject registers a project owned and maintained by key, with
// threshold 1. The owners role's signature proves possession of the key.
func (t *Tool) CreateProject(ctx context.Context, name string, key *signing.Key) (*Created, error) {
	project, err := layout.ParseProjectName(name)
	if err != nil {
		return nil, err
	}
	pub := key.Public()
	owners := tufmeta.NewDelegation([]signing.PublicKey{pub}, 1)
	now := t.now()
	pol := t.policy()
	if t.Policy == (layout.Policy{}) {
		// The admins' signed settings fix how long project roles may last.
		st, err := t.Client.Shard(ctx, layout.ShardOf(project, t.Client.Trust().Shards))
		if err != nil {
			return nil, err
		}
		set, err := tufmeta.SettingsOf(st.Targets)
		if err != nil {
			return nil, err
		}
		pol = set.Expiry
	}

	ownersRole := metadata.Targets(pol.ExpiresAt(layout.OwnersRole(project), now))
	ownersRole.Signed.Delegations = &metadata.Delegations{Keys: map[string]*metadata.Key{}}
	maint := tufmeta.NewDelegation([]signing.PublicKey{pub}, 1)
	for id, k := range maint.Keys {
		ownersRole.Signed.Delegations.Keys[id] = k
	}
	ownersRole.Signed.Delegations.Roles = []metadata.DelegatedRole{{
		Name: layout.ReleasesRole(project), KeyIDs: maint.KeyIDs, Threshold: 1,
		Terminating: true, Paths: layout.DelegationPaths(project),
	}}
	tufmeta.SetLabels(ownersRole, map[string]string{pub.ID(): pub.Label})
	tufmeta.SetDeclaredOwners(ownersRole, owners)

	index := &layout.Index{Project: project}
	indexBytes, err := index.Marshal()
	if err != nil {
		return nil, err
	}
	releases := metadata.Targets(pol.ExpiresAt(layout.ReleasesRole(project), now))
	releases.Signed.Targets[layout.IndexPath(project)] = targetFile(indexBytes)

	// Check locally what the server will check, before signing.
	st := &validation.Project{Name: project, Owners: owners, Tombstones: map[string]string{}}
	env := validation.Env{Policy: pol, Now: now}
	if err := tufmeta.Sign(ownersRole, key); err != nil {
		return nil, err
	}
	if d := validation.CheckOwners(st, ownersRole, env); d.Outcome != validation.Accept {
		return nil, fmt.Errorf("internal error: the new owners role does not validate: %v", d.Reason)
	}
	st.OwnersRole = ownersRole
	if err := tufmeta.Sign(releases, key); err != nil {
		return nil, err
	}
	if d := validation.CheckReleases(st, releases, indexBytes, env); d.Outcome != validation.Accept {
		return nil, fmt.Errorf("internal error: the new releases role does not validate: %v", d.Reason)
	}
	ownersJSON, err := tufmeta.Encode(ownersRole)
	if err != nil {
		return nil, err
	}
	releasesJSON, err := tufmeta.Encode(releases)
	if err != nil {
		return nil, err
	}
	change := api.ChangeRequest{
		Project:      name,
		Owners:       &api.Owners{Keys: owners.Keys, KeyIDs: owners.KeyIDs, Threshold: owners.Threshold},
		OwnersRole:   ownersJSON,
		ReleasesRole: releasesJSON,
	}
	files := []upFile{{target: layout.IndexPath(project), open: bytesOpener(indexBytes), length: int64(len(indexBytes))}}
	out, err := postChange(ctx, t.httpClient(), t.Client.Repo()+"/api/v1/projects", change, files, nil, t.RegistrationToken)
	if err != nil {
		return nil, err
	}
	return &Created{Project: project, Shard: layout.ShardOf(project, t.Client.Trust().Shards), Outcome: out}, nil
}

func bytesOpener(b []byte) func() (io.ReadCloser, error) {
	return func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }
}

func targetFile(data []byte) *metadata.TargetFiles {
	sum := sha256.Sum256(data)
	return &metadata.TargetFiles{Length: int64(len(data)), Hashes: metadata.Hashes{"sha256": sum[:]}}
}

// hashFile returns a file's sha256 and length.
func hashFile(path string) ([]byte, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, 0, err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return nil, 0, err
	}
	return h.Sum(nil), n, nil
}

// cloneTargets deep-copies targets metadata through its JSON form, without
// signatures.
func cloneTargets(md *tufmeta.Targets) *tufmeta.Targets {
	b, err := json.Marshal(md)
	if err != nil {
		panic("maintainer: cannot re-encode verified metadata: " + err.Error())
	}
	c, err := tufmeta.Decode[metadata.TargetsType](b)
	if err != nil {
		panic("maintainer: cannot re-decode verified metadata: " + err.Error())
	}
	c.Signatures = nil
	if c.Signed.Targets == nil {
		c.Signed.Targets = map[string]*metadata.TargetFiles{}
	}
	return c
}
