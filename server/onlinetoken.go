package server

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"

	"hallmark.dev/hallmark/ceremony"
	"hallmark.dev/hallmark/layout"
	"hallmark.dev/hallmark/signing"
)

// A data directory whose online keys are on a PKCS#11 token holds, instead
// of online.secret, online.token: which token, and which set of keys on it.
// Each shard has its own timestamp, snapshot and new-projects key, as with
// the derived secret (metadata of one shard must never verify in another),
// so a set is 3 × shards P-256 keys generated on the token by 'hallmark
// admin prepare --online-token', labelled by onlineKeyLabel.
const (
	onlineTokenFile     = "online.token"
	nextOnlineTokenFile = "online.token.next"
)

// OnlineToken says where the online keys live: a token reached through a
// PKCS#11 module, opened with PIN.
type OnlineToken struct {
	Module string
	URI    signing.TokenURI
	PIN    []byte
}

// tokenRecord is the content of online.token.
type tokenRecord struct {
	Module string `json:"module"`
	URI    string `json:"uri"`
	// Set names this set of keys on the token (random), so that a rotation
	// from a token to the same token creates new keys.
	Set string `json:"set"`
}

// onlineKeyLabel is the CKA_LABEL of the online key of role in shard, in a
// set of keys on a token.
func onlineKeyLabel(set, shard, role string) string {
	return "hallmark-online-" + set + "-" + shard + "-" + role
}

// onlineSource gives the online key of a role of a shard.
type onlineSource interface {
	key(shard, role string) (*signing.Key, error)
	close()
}

// secretSource derives the online keys from the online secret.
type secretSource []byte

func (s secretSource) key(shard, role string) (*signing.Key, error) {
	return signing.DeriveOnline(s, shard, role)
}
func (secretSource) close() {}

// tokenSource finds the online keys of one set on a token.
type tokenSource struct {
	tok *signing.Token
	set string
	mu  sync.Mutex
	got map[string]*signing.Key
}

func (t *tokenSource) key(shard, role string) (*signing.Key, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	name := onlineKeyLabel(t.set, shard, role)
	if k, ok := t.got[name]; ok {
		return k, nil
	}
	k, err := t.tok.Key(name, "online "+role+" key of shard "+shard)
	if err != nil {
		return nil, fmt.Errorf("online key %s: %w", name, err)
	}
	t.got[name] = k
	return k, nil
}

func (t *tokenSource) close() { t.tok.Close() }

// openTokenRecord opens the token an online.token file names.
func openTokenRecord(path string, pin []byte) (*tokenSource, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var rec tokenRecord
	if err := json.Unmarshal(data, &rec); err != nil || rec.Set == "" {
		return nil, fmt.Errorf("%s is corrupt", path)
	}
	uri, err := signing.ParseTokenOnlyURI(rec.URI)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(pin) == 0 {
		return nil, fmt.Errorf("the online keys are on a token (%s): give its PIN in HALLMARK_PIN", rec.URI)
	}
	tok, err := signing.LoginToken(rec.Module, uri, pin)
	if err != nil {
		return nil, fmt.Errorf("the token of the online keys (%s): %w", rec.URI, err)
	}
	return &tokenSource{tok: tok, set: rec.Set, got: map[string]*signing.Key{}}, nil
}

// loadSource opens the online keys in force (or, with next, the next ones
// of a rotation): a token when its file exists, else the online secret,
// created if create is set.
func loadSource(dir string, next, create bool, pin []byte) (onlineSource, error) {
	tokenFile, secret := onlineTokenFile, secretFile
	if next {
		tokenFile, secret = nextOnlineTokenFile, nextSecretFile
	}
	_, errT := os.Stat(filepath.Join(dir, tokenFile))
	_, errS := os.Stat(filepath.Join(dir, secret))
	switch {
	case errT == nil && errS == nil:
		return nil, fmt.Errorf("%s holds both %s and %s; keep the one the repository's root names", dir, tokenFile, secret)
	case errT == nil:
		return openTokenRecord(filepath.Join(dir, tokenFile), pin)
	case !errors.Is(errT, fs.ErrNotExist):
		return nil, errT
	}
	s, err := loadOrCreateSecret(filepath.Join(dir, secret), create)
	if err != nil {
		return nil, err
	}
	return secretSource(s), nil
}

// prepareToken generates a new set of online keys for every shard on the
// token and records it in dir/file. It refuses to replace a record.
func prepareToken(dir, file string, shards int, t *OnlineToken) (*ceremony.OnlineKeys, error) {
	path := filepath.Join(dir, file)
	if _, err := os.Stat(path); err == nil {
		src, err := openTokenRecord(path, t.PIN)
		if err != nil {
			return nil, err
		}
		defer src.close()
		return ceremony.ExportOnline(shards, src.key)
	}
	tok, err := signing.LoginToken(t.Module, t.URI, t.PIN)
	if err != nil {
		return nil, err
	}
	defer tok.Close()
	b := make([]byte, 4)
	if _, err := rand.Read(b); err != nil {
		return nil, err
	}
	set := hex.EncodeToString(b)
	keys, err := ceremony.ExportOnline(shards, func(shard, role string) (*signing.Key, error) {
		return tok.GenerateECDSA(onlineKeyLabel(set, shard, role), "online "+role+" key of shard "+shard)
	})
	if err != nil {
		return nil, err
	}
	module := t.Module
	if module == "" {
		module = t.URI.ModulePath
	}
	if abs, err := filepath.Abs(module); err == nil {
		module = abs
	}
	rec, _ := json.MarshalIndent(tokenRecord{Module: module, URI: t.URI.TokenOnly(), Set: set}, "", "  ")
	if err := os.WriteFile(path, rec, 0o600); err != nil {
		return nil, err
	}
	return keys, nil
}

// preparedShards returns the shard count of a prepared data directory.
func preparedShards(dir string) (int, error) {
	data, err := os.ReadFile(filepath.Join(dir, repoFile))
	if err != nil {
		return 0, fmt.Errorf("%s holds no repository: %w", dir, err)
	}
	var info RepoInfo
	if err := json.Unmarshal(data, &info); err != nil {
		return 0, err
	}
	return info.Shards, layout.CheckShardCount(info.Shards)
}
