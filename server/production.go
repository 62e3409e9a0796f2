package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/theupdateframework/go-tuf/v2/metadata"

	"hallmark.dev/hallmark/ceremony"
	"hallmark.dev/hallmark/layout"
	"hallmark.dev/hallmark/publish"
	"hallmark.dev/hallmark/signing"
	"hallmark.dev/hallmark/tufmeta"
	"hallmark.dev/hallmark/validation"
)

// PrepareRepo creates a data directory for a production repository: its
// shard count and online secret. It returns the public online keys, which
// the admins' init ceremony needs; the secret never leaves dir.
func PrepareRepo(dir string, shards int) (*ceremony.OnlineKeys, error) {
	return prepareRepo(dir, shards, nil)
}

// PrepareRepoOnToken is PrepareRepo with the online keys on a PKCS#11
// token: it generates every shard's timestamp, snapshot and new-projects
// keys on the token (or finds those it generated before), and records where
// they are. The server then needs the token and its PIN to run.
func PrepareRepoOnToken(dir string, shards int, tok *OnlineToken) (*ceremony.OnlineKeys, error) {
	return prepareRepo(dir, shards, tok)
}

func prepareRepo(dir string, shards int, tok *OnlineToken) (*ceremony.OnlineKeys, error) {
	if err := layout.CheckShardCount(shards); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	infoPath := filepath.Join(dir, repoFile)
	var info RepoInfo
	data, err := os.ReadFile(infoPath)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		info = RepoInfo{Shards: shards}
		data, _ := json.MarshalIndent(info, "", "  ")
		if err := os.WriteFile(infoPath, data, 0o600); err != nil {
			return nil, err
		}
	case err != nil:
		return nil, err
	default:
		if err := json.Unmarshal(data, &info); err != nil {
			return nil, fmt.Errorf("%s is corrupt: %w", infoPath, err)
		}
		if info.Dev {
			return nil, fmt.Errorf("%s holds a development repository", dir)
		}
		if info.Shards != shards {
			return nil, fmt.Errorf("%s was prepared for %d shards", dir, info.Shards)
		}
	}
	_, errT := os.Stat(filepath.Join(dir, onlineTokenFile))
	_, errS := os.Stat(filepath.Join(dir, secretFile))
	switch {
	case tok != nil && errS == nil:
		return nil, fmt.Errorf("%s was prepared with an online secret; prepare another directory for online keys on a token", dir)
	case tok == nil && errT == nil:
		return nil, fmt.Errorf("%s was prepared with online keys on a token; pass the same --online-token again", dir)
	case tok != nil:
		return prepareToken(dir, onlineTokenFile, shards, tok)
	}
	secret, err := loadOrCreateSecret(filepath.Join(dir, secretFile), true)
	if err != nil {
		return nil, err
	}
	return ceremony.ExportOnline(shards, secretSource(secret).key)
}

// initFromBundle checks an admins' init ceremony against this server's
// online keys and publishes it.
func initFromBundle(ctx context.Context, r *Repo, online publish.OnlineKeys, data []byte, o OpenOptions) error {
	b, err := ceremony.ParseBundle(data)
	if err != nil {
		return err
	}
	if b.Kind != ceremony.KindInit || b.Trust == nil {
		return errors.New("the bundle is not an init ceremony")
	}
	if b.Shards != r.Info.Shards || len(b.Changes) != r.Info.Shards {
		return fmt.Errorf("the ceremony is for %d shards; this data directory was prepared for %d", b.Shards, r.Info.Shards)
	}
	if err := ceremony.CheckTrust(b); err != nil {
		return err
	}
	env := validation.Env{Policy: o.Policy, Now: o.Now()}
	var shards []ceremony.Shard
	for _, ch := range b.Changes {
		roles, err := ch.Decode()
		if err != nil {
			return err
		}
		if roles.Root == nil || roles.Targets == nil || roles.Claimed == nil {
			return fmt.Errorf("shard %s: the ceremony lacks a role", ch.Shard)
		}
		if roles.Claimed.Signed.Delegations != nil && len(roles.Claimed.Signed.Delegations.Roles) > 0 {
			return fmt.Errorf("shard %s: a new repository's claimed bin must be empty", ch.Shard)
		}
		for _, d := range []validation.Decision{
			validation.CheckRoot(ch.Shard, r.Info.Shards, nil, roles.Root, env),
			validation.CheckTopTargets(ch.Shard, r.Info.Shards, roles.Root, nil, roles.Targets, env),
			validation.CheckClaimedBin(ch.Shard, r.Info.Shards, roles.Targets, nil, roles.Claimed, env),
		} {
			switch d.Outcome {
			case validation.Pending:
				return fmt.Errorf("shard %s: a role has %d of %d signatures; collect the rest with 'hallmark admin sign'", ch.Shard, len(d.Sigs.Valid), d.Sigs.Threshold)
			case validation.Reject:
				return fmt.Errorf("shard %s: %v", ch.Shard, d.Reason)
			}
		}
		// The ceremony must name this server's online keys.
		for _, role := range []string{layout.RoleTimestamp, layout.RoleSnapshot} {
			k, err := online(ch.Shard, role)
			if err != nil {
				return err
			}
			d, _ := tufmeta.RootDelegation(roles.Root, role)
			if len(d.KeyIDs) != 1 || d.KeyIDs[0] != k.ID() {
				return fmt.Errorf("shard %s: the ceremony's %s key is not this server's; was it built from this data directory's online keys?", ch.Shard, role)
			}
		}
		k, err := online(ch.Shard, ceremony.OnlineNew)
		if err != nil {
			return err
		}
		d, _, err := tufmeta.TargetsDelegation(roles.Targets, layout.NewRole(ch.Shard))
		if err != nil || len(d.KeyIDs) != 1 || d.KeyIDs[0] != k.ID() {
			return fmt.Errorf("shard %s: the ceremony's key of %s is not this server's", ch.Shard, layout.NewRole(ch.Shard))
		}
		shards = append(shards, ceremony.Shard{ID: ch.Shard, Root: roles.Root, Targets: roles.Targets, Claimed: roles.Claimed})
	}
	return r.Publisher.Bootstrap(ctx, shards, b.Trust)
}

// RenewDevOffline re-signs, with a development repository's own offline
// keys, each shard's root, targets and claimed bin inside their signing
// period, so a development repository never expires. Production
// repositories renew offline metadata with 'hallmark admin renew'. It
// returns how many shards it renewed.
func (r *Repo) RenewDevOffline(ctx context.Context, pol layout.Policy, now time.Time) (int, error) {
	if !r.Info.Dev {
		return 0, nil
	}
	keys := map[string]*signing.Key{}
	for _, name := range []string{"root", "targets", "claim"} {
		data, err := os.ReadFile(filepath.Join(r.Dir, DevKeysDir, name+".key"))
		if err != nil {
			return 0, err
		}
		if keys[name], err = signing.ParseKey(data, nil); err != nil {
			return 0, err
		}
	}
	n := 0
	for _, shard := range layout.ShardIDs(r.Info.Shards) {
		o := &publish.Offline{Shard: shard}
		rootRF, err := r.State.Role(ctx, shard, layout.RoleRoot)
		if err != nil {
			return n, err
		}
		if pol.NeedsRenewal(layout.RoleRoot, rootRF.Expires, now) {
			root, err := tufmeta.Decode[metadata.RootType](rootRF.Data)
			if err != nil {
				return n, err
			}
			root.Signatures = nil
			root.Signed.Version++
			root.Signed.Expires = pol.ExpiresAt(layout.RoleRoot, now)
			if err := tufmeta.Sign(root, keys["root"]); err != nil {
				return n, err
			}
			o.Root = root
		}
		for _, t := range []struct {
			role, key string
			dst       **tufmeta.Targets
		}{{layout.RoleTargets, "targets", &o.Targets}, {layout.ClaimedRole(shard), "claim", &o.Claimed}} {
			rf, err := r.State.Role(ctx, shard, t.role)
			if err != nil {
				return n, err
			}
			if !pol.NeedsRenewal(t.role, rf.Expires, now) {
				continue
			}
			md, err := tufmeta.Decode[metadata.TargetsType](rf.Data)
			if err != nil {
				return n, err
			}
			md.Signatures = nil
			md.Signed.Version++
			md.Signed.Expires = pol.ExpiresAt(t.role, now)
			if err := tufmeta.Sign(md, keys[t.key]); err != nil {
				return n, err
			}
			*t.dst = md
		}
		if o.Root == nil && o.Targets == nil && o.Claimed == nil {
			continue
		}
		res, err := r.Publisher.SubmitOffline(ctx, o)
		if err != nil {
			return n, err
		}
		if res.Outcome != validation.Accept {
			return n, fmt.Errorf("renewing shard %s: %v", shard, res.Reason)
		}
		n++
	}
	return n, nil
}

// nextSecretFile holds the next online secret during an online key rotation.
const nextSecretFile = "online.secret.next"

// secrets are the online keys in force and, during an online key rotation,
// the next ones: each derived from an online secret or kept on a token.
type secrets struct {
	dir string
	pin []byte // the PIN of the token of the online keys, if they are on one
	// promote admits one PromoteOnlineSecret at a time: a replica runs it
	// after the ceremonies it receives and every second.
	promote sync.Mutex
	mu      sync.RWMutex
	cur     onlineSource
	next    onlineSource
	// nextErr is why the next keys could not be opened, and nextStamp the
	// next keys' files as they were then: opening is not tried again
	// until they change (each try of a token is a login, and a token
	// locks after a few wrong PINs).
	nextErr   error
	nextStamp string
}

// errNoRotation says no online key rotation is prepared.
var errNoRotation = errors.New("no online key rotation is prepared")

func (s *secrets) current(shard, role string) (*signing.Key, error) {
	s.mu.RLock()
	cur := s.cur
	s.mu.RUnlock()
	return cur.key(shard, role)
}

// nextKey returns a next online key, opening the next keys the first time
// (an operator may prepare a rotation while the server runs).
func (s *secrets) nextKey(shard, role string) (*signing.Key, error) {
	s.mu.RLock()
	next := s.next
	s.mu.RUnlock()
	if next == nil {
		infoT, errT := os.Stat(filepath.Join(s.dir, nextOnlineTokenFile))
		infoS, errS := os.Stat(filepath.Join(s.dir, nextSecretFile))
		if errT != nil && errS != nil {
			return nil, errNoRotation
		}
		stamp := fmt.Sprint(fileStamp(infoT), fileStamp(infoS))
		s.mu.RLock()
		failed, failedStamp := s.nextErr, s.nextStamp
		s.mu.RUnlock()
		if failed != nil && failedStamp == stamp {
			return nil, failed
		}
		n, err := loadSource(s.dir, true, false, s.pin)
		if err != nil {
			s.mu.Lock()
			s.nextErr, s.nextStamp = err, stamp
			s.mu.Unlock()
			return nil, err
		}
		s.mu.Lock()
		if s.next == nil {
			s.next = n
		} else {
			n.close()
		}
		next = s.next
		s.mu.Unlock()
	}
	return next.key(shard, role)
}

// PrepareOnlineRotation creates the next online secret of a data directory
// (or reuses one prepared before) and returns its public keys for the
// admins' 'hallmark admin rotate online' ceremony.
func PrepareOnlineRotation(dir string) (*ceremony.OnlineKeys, error) {
	return prepareOnlineRotation(dir, nil)
}

// PrepareOnlineRotationOnToken prepares an online key rotation to a new set
// of keys generated on a PKCS#11 token (from an online secret, or from
// another set of keys on a token).
func PrepareOnlineRotationOnToken(dir string, tok *OnlineToken) (*ceremony.OnlineKeys, error) {
	return prepareOnlineRotation(dir, tok)
}

func prepareOnlineRotation(dir string, tok *OnlineToken) (*ceremony.OnlineKeys, error) {
	shards, err := preparedShards(dir)
	if err != nil {
		return nil, err
	}
	_, errT := os.Stat(filepath.Join(dir, nextOnlineTokenFile))
	_, errS := os.Stat(filepath.Join(dir, nextSecretFile))
	switch {
	case tok != nil && errS == nil:
		return nil, fmt.Errorf("a rotation to a new online secret is prepared already (%s); finish it first", nextSecretFile)
	case tok == nil && errT == nil:
		return nil, fmt.Errorf("a rotation to online keys on a token is prepared already (%s); pass the same --online-token again", nextOnlineTokenFile)
	case tok != nil:
		return prepareToken(dir, nextOnlineTokenFile, shards, tok)
	}
	next, err := loadOrCreateSecret(filepath.Join(dir, nextSecretFile), true)
	if err != nil {
		return nil, err
	}
	return ceremony.ExportOnline(shards, secretSource(next).key)
}

// PromoteOnlineSecret finishes an online key rotation once every shard's
// root names the next keys: the next secret becomes the secret in force and
// the old one is deleted. It reports whether it promoted. A server runs it
// after each ceremony it publishes and, with replicas, every second (a
// ceremony may come through another replica); it reads one root while the
// rotation waits for its ceremony.
func (r *Repo) PromoteOnlineSecret(ctx context.Context) (bool, error) {
	r.sec.promote.Lock()
	defer r.sec.promote.Unlock()
	for _, shard := range layout.ShardIDs(r.Info.Shards) {
		k, err := r.sec.nextKey(shard, layout.RoleTimestamp)
		if errors.Is(err, errNoRotation) {
			return false, nil
		}
		if err != nil {
			return false, fmt.Errorf("the next online keys cannot be used: %w", err)
		}
		rf, err := r.State.Role(ctx, shard, layout.RoleRoot)
		if err != nil {
			return false, err
		}
		root, err := tufmeta.Decode[metadata.RootType](rf.Data)
		if err != nil {
			return false, err
		}
		d, _ := tufmeta.RootDelegation(root, layout.RoleTimestamp)
		if len(d.KeyIDs) != 1 || d.KeyIDs[0] != k.ID() {
			return false, nil // some shard still uses the current keys
		}
	}
	r.sec.mu.Lock()
	defer r.sec.mu.Unlock()
	// The next keys' file takes the place of the current one; the current
	// keys' file of the other kind goes. (A crash in between leaves both
	// kinds, and the server then refuses to start, naming both files.)
	from, to, old := nextSecretFile, secretFile, onlineTokenFile
	if _, ok := r.sec.next.(*tokenSource); ok {
		from, to, old = nextOnlineTokenFile, onlineTokenFile, secretFile
	}
	if err := os.Rename(filepath.Join(r.Dir, from), filepath.Join(r.Dir, to)); err != nil {
		return false, err
	}
	if err := os.Remove(filepath.Join(r.Dir, old)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return false, err
	}
	// The old source is not closed: a publish may still hold one of its
	// keys, and a token session ends with the process.
	r.sec.cur, r.sec.next = r.sec.next, nil
	return true, nil
}

// fileStamp identifies a file's version for nextKey's retry rule ("" when
// it is absent).
func fileStamp(info os.FileInfo) string {
	if info == nil {
		return ""
	}
	return fmt.Sprint(info.Size(), info.ModTime().UnixNano())
}
