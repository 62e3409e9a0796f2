// Package admin holds the repository admins' ceremonies: initialize a
// repository, claim projects, block and unblock them, rotate offline keys
// and renew offline metadata. Each ceremony is a ceremony.Bundle — the
// proposed offline-signed roles of every shard it changes — built from
// state the tool verified through TUF (never from what the server says),
// explained in plain words, signed by each admin's keys in turn, and
// submitted once every role has its threshold. The server validates it
// again before it publishes anything.
package admin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/theupdateframework/go-tuf/v2/metadata"

	"hallmark.dev/hallmark/api"
	"hallmark.dev/hallmark/ceremony"
	"hallmark.dev/hallmark/client"
	"hallmark.dev/hallmark/layout"
	"hallmark.dev/hallmark/signing"
	"hallmark.dev/hallmark/tufmeta"
	"hallmark.dev/hallmark/validation"
)

// Tool runs ceremonies against one repository.
type Tool struct {
	Client *client.Client
	HTTP   *http.Client
	Policy layout.Policy
	Now    func() time.Time
	// Progress reports work over many shards.
	Progress func(done, total int)
}

func (t *Tool) now() time.Time {
	if t.Now != nil {
		return t.Now()
	}
	return time.Now()
}

func (t *Tool) policy() layout.Policy {
	if t.Policy == (layout.Policy{}) {
		return layout.DefaultPolicy()
	}
	return t.Policy
}

// usePolicyOf adopts the expiry policy the admins signed into the verified
// targets of base, unless the tool was given one.
func (t *Tool) usePolicyOf(base Base) {
	if t.Policy != (layout.Policy{}) {
		return
	}
	for _, st := range base {
		if st == nil || st.Targets == nil {
			continue
		}
		if s, err := tufmeta.SettingsOf(st.Targets); err == nil {
			t.Policy = s.Expiry
		}
		return
	}
}

func (t *Tool) env() validation.Env { return validation.Env{Policy: t.policy(), Now: t.now()} }

// Env is the validation context a tool checks ceremonies in.
type Env = validation.Env

// Env returns the tool's validation context.
func (t *Tool) Env() Env { return t.env() }

func (t *Tool) httpClient() *http.Client {
	if t.HTTP != nil {
		return t.HTTP
	}
	return http.DefaultClient
}

// Base refreshes the given shards (all when nil) through TUF.
func (t *Tool) Base(ctx context.Context, shards []string) (Base, error) {
	if shards == nil {
		shards = layout.ShardIDs(t.Client.Trust().Shards)
	}
	base := Base{}
	var mu sync.Mutex
	var firstErr error
	work := make(chan string)
	var wg sync.WaitGroup
	done := 0
	for range min(8, len(shards)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for s := range work {
				st, err := t.Client.Shard(ctx, s)
				mu.Lock()
				if err != nil && firstErr == nil {
					firstErr = err
				}
				base[s] = st
				done++
				if t.Progress != nil {
					t.Progress(done, len(shards))
				}
				mu.Unlock()
			}
		}()
	}
	for _, s := range shards {
		work <- s
	}
	close(work)
	wg.Wait()
	if firstErr == nil {
		t.usePolicyOf(base)
	}
	return base, firstErr
}

// Check validates and explains a bundle against freshly verified state.
func (t *Tool) Check(ctx context.Context, b *ceremony.Bundle) (*Report, Base, error) {
	if b.Kind == ceremony.KindInit {
		rep, err := Check(b, Base{}, t.env(), nil)
		return rep, Base{}, err
	}
	if b.Shards != t.Client.Trust().Shards {
		return nil, nil, fmt.Errorf("the ceremony is for a repository of %d shards; this one has %d", b.Shards, t.Client.Trust().Shards)
	}
	var shards []string
	for _, c := range b.Changes {
		shards = append(shards, c.Shard)
	}
	base, err := t.Base(ctx, shards)
	if err != nil {
		return nil, nil, err
	}
	rep, err := Check(b, base, t.env(), t.ownerCheck(ctx))
	return rep, base, err
}

// ownerCheck verifies a claimed project's owner change against its owners
// role as published and verified: it must declare exactly the new owners
// and carry a threshold of signatures of both the current and new owners.
func (t *Tool) ownerCheck(ctx context.Context) OwnerCheck {
	return func(project string, current, proposed tufmeta.Delegation) (string, error) {
		if len(current.KeyIDs) == 0 {
			h, err := t.OwnerHistory(ctx, project, proposed)
			if err != nil {
				return "", err
			}
			return h.describe(), nil
		}
		p, err := t.Client.Project(ctx, project)
		if err != nil {
			return "", err
		}
		declared, ok, err := tufmeta.DeclaredOwners(p.OwnersRole)
		if err != nil || !ok || !tufmeta.SameKeys(declared, proposed) {
			return "", errors.New("the project's owners did not sign a request for these owners")
		}
		if err := validation.CheckKeys(declared.Keys, declared.KeyIDs, declared.Threshold); err != nil {
			return "", fmt.Errorf("the requested owners are malformed: %w", err)
		}
		if err := tufmeta.Verify(p.OwnersRole, current, "owner-change request"); err != nil {
			return "", fmt.Errorf("too few current owners signed the request: %w", err)
		}
		if err := tufmeta.Verify(p.OwnersRole, declared, "owner-change request"); err != nil {
			return "", fmt.Errorf("too few new owners signed the request: %w", err)
		}
		return "", nil
	}
}

// OwnerHistory verifies the chain of a project's owner changes from its
// creation (VerifyOwnerChain) up to current, the owners its bin names: the
// newest owners role through TUF, the older versions as the server keeps
// them.
func (t *Tool) OwnerHistory(ctx context.Context, project string, current tufmeta.Delegation) (OwnerHistory, error) {
	p, err := t.Client.Project(ctx, project)
	if err != nil {
		return OwnerHistory{}, err
	}
	n := p.OwnersRole.Signed.Version
	history := make([]*tufmeta.Targets, n)
	history[n-1] = p.OwnersRole
	for v := int64(1); v < n; v++ {
		b, err := t.Client.FetchUnverified(ctx, p.Shard, layout.MetadataFile(layout.OwnersRole(project), v))
		if err != nil {
			return OwnerHistory{}, fmt.Errorf("%s: owners role version %d: %w", project, v, err)
		}
		if b == nil {
			continue
		}
		md, err := tufmeta.Decode[metadata.TargetsType](b)
		if err != nil {
			return OwnerHistory{}, fmt.Errorf("%s: owners role version %d: %w", project, v, err)
		}
		history[v-1] = md
	}
	return VerifyOwnerChain(project, history, current, t.policy().Project.Valid)
}

// SubmitResult is the server's answer for one shard.
type SubmitResult = api.CeremonyResult

// Submit sends a complete bundle to the server.
func (t *Tool) Submit(ctx context.Context, b *ceremony.Bundle) ([]SubmitResult, error) {
	status, data, err := t.Client.PostJSON(ctx, t.httpClient(), "/api/v1/admin/ceremonies", b, 64<<20)
	if err != nil {
		return nil, err
	}
	var out api.CeremonyResponse
	if err := json.Unmarshal(data, &out); err != nil || status >= 500 {
		var er api.ErrorResponse
		if json.Unmarshal(data, &er) == nil && er.Error.Message != "" {
			return nil, fmt.Errorf("the repository refused the ceremony: %s", er.Error.Message)
		}
		return nil, fmt.Errorf("the repository answered HTTP %d", status)
	}
	if status >= 300 && len(out.Results) == 0 {
		var er api.ErrorResponse
		json.Unmarshal(data, &er)
		return nil, fmt.Errorf("the repository refused the ceremony: %s", er.Error.Message)
	}
	return out.Results, nil
}

// LoadKeys opens every key file in dir (encrypted key files, and token keys
// registered there), asking s for passphrases and PINs.
func LoadKeys(dir string, s signing.Secrets) ([]*signing.Key, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.key"))
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("no key files (*.key) in %s", dir)
	}
	var keys []*signing.Key
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		k, err := signing.Open(data, strings.TrimSuffix(filepath.Base(f), ".key"), s)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", f, err)
		}
		keys = append(keys, k)
	}
	return keys, nil
}

func cloneRoot(md *tufmeta.Root) *tufmeta.Root {
	b, _ := json.Marshal(md)
	c, err := tufmeta.Decode[metadata.RootType](b)
	if err != nil {
		panic("admin: cannot re-decode verified root: " + err.Error())
	}
	c.Signatures = nil
	return c
}

func cloneTargets(md *tufmeta.Targets) *tufmeta.Targets {
	b, _ := json.Marshal(md)
	c, err := tufmeta.Decode[metadata.TargetsType](b)
	if err != nil {
		panic("admin: cannot re-decode verified targets: " + err.Error())
	}
	c.Signatures = nil
	if c.Signed.Targets == nil {
		c.Signed.Targets = map[string]*metadata.TargetFiles{}
	}
	return c
}

// next returns the next version of a role with a fresh expiry.
func (t *Tool) nextTargets(md *tufmeta.Targets, role string) *tufmeta.Targets {
	c := cloneTargets(md)
	c.Signed.Version++
	c.Signed.Expires = t.policy().ExpiresAt(role, t.now())
	return c
}

func (t *Tool) nextRoot(md *tufmeta.Root) *tufmeta.Root {
	c := cloneRoot(md)
	c.Signed.Version++
	c.Signed.Expires = t.policy().ExpiresAt(layout.RoleRoot, t.now())
	return c
}

func (t *Tool) newBundle(kind string) *ceremony.Bundle {
	return &ceremony.Bundle{Format: ceremony.BundleFormat, Kind: kind, Shards: t.Client.Trust().Shards, Created: t.now().UTC().Truncate(time.Second)}
}

// finish explains, signs with keys and returns the bundle with its report.
func (t *Tool) finish(ctx context.Context, b *ceremony.Bundle, base Base, keys []*signing.Key) (*Report, error) {
	if len(b.Changes) == 0 {
		return nil, errors.New("nothing to do")
	}
	if err := setTrust(b); err != nil {
		return nil, err
	}
	n, err := Sign(b, base, keys)
	if err != nil {
		return nil, err
	}
	rep, err := Check(b, base, t.env(), t.ownerCheck(ctx))
	if err != nil {
		return nil, err
	}
	rep.Added = n
	b.Summary = rep.Lines
	return rep, nil
}
