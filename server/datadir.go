package server

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/theupdateframework/go-tuf/v2/metadata"

	"hallmark.dev/hallmark/ceremony"
	"hallmark.dev/hallmark/internal/dirlock"
	"hallmark.dev/hallmark/layout"
	"hallmark.dev/hallmark/publish"
	"hallmark.dev/hallmark/signing"
	"hallmark.dev/hallmark/store"
	"hallmark.dev/hallmark/store/postgres"
	"hallmark.dev/hallmark/trust"
	"hallmark.dev/hallmark/tufmeta"
	"hallmark.dev/hallmark/witness"
)

// A data directory holds one repository:
//
//	repository.json   shard count and whether it is a development repository
//	online.secret     the online secret (hex), from which every shard's online keys derive
//	online.token      instead of online.secret: the token holding the online keys (onlinetoken.go)
//	state.db          the SQLite state store
//	blobs/            published metadata and targets, as served
//	staging/          uploads being checked
//	dev-keys/         development offline keys (development repositories only)
const (
	repoFile    = "repository.json"
	secretFile  = "online.secret"
	stateFile   = "state.db"
	blobsDir    = "blobs"
	stagingDir  = "staging"
	DevKeysDir  = "dev-keys"
	devKeyLabel = "DEVELOPMENT ONLY"
)

// RepoInfo is the content of repository.json.
type RepoInfo struct {
	Shards int  `json:"shards"`
	Dev    bool `json:"dev"`
	// DevWitness is the URL of a development repository's own witness
	// (DATA/dev-witness), started with the server.
	DevWitness string `json:"dev_witness,omitempty"`
}

// Repo is an opened data directory: its stores and its publisher.
type Repo struct {
	Dir       string
	Info      RepoInfo
	State     store.State
	Blobs     store.Blobs
	Publisher *publish.Publisher
	// Fingerprint is the trust fingerprint users pin.
	Fingerprint string
	// Created is true when this call created the repository.
	Created bool
	// DevWitnessURL is where the development witness started by OpenRepo
	// answers ("" when none runs).
	DevWitnessURL string
	// Replicated is true when the state is in a database other replicas
	// may share: what this process caches from it must be refreshed.
	Replicated bool

	sec    *secrets
	lock   *dirlock.Lock
	dbLock *postgres.Lock
}

// OpenOptions configure OpenRepo.
type OpenOptions struct {
	// Dev creates a development repository when the directory has none.
	Dev    bool
	Shards int
	Now    func() time.Time
	Log    *slog.Logger
	Policy layout.Policy
	// InitBundle is the admins' init ceremony, for a prepared production
	// data directory that has not been initialized.
	InitBundle []byte
	// Database is the state store's PostgreSQL URL; "" keeps the state in
	// a SQLite file in the data directory (and locks the directory).
	Database string
	// Blobs is the blob store's URL (s3://...); "" keeps blobs in a
	// directory inside the data directory.
	Blobs string
	// Standby waits while another server runs on the database, and
	// starts when none does (without it, a server joins the others as one
	// more replica).
	Standby bool
	// OnlinePIN opens the token of the online keys, for a repository
	// prepared with them on a token.
	OnlinePIN []byte
	// DevWitness gives a new development repository a witness of its own,
	// which every shard's root names, and starts it (as a separate
	// process, until ctx ends) when the repository has one.
	DevWitness bool
	// WitnessLog receives the development witness's output.
	WitnessLog io.Writer
}

// OpenRepo opens the repository in dir. With Dev set and no repository
// there yet, it creates one: development offline keys (stored unencrypted in
// dir/dev-keys), the online secret, and the signed initial metadata of every
// shard.
func OpenRepo(ctx context.Context, dir string, o OpenOptions) (*Repo, error) {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	if o.Policy == (layout.Policy{}) {
		o.Policy = layout.DefaultPolicy()
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("failed to create data directory: %w", err)
	}
	r := &Repo{Dir: dir}
	// One server at a time on an embedded data directory: a second one
	// would publish the same versions on its own.
	if o.embedded() {
		lock, err := dirlock.Acquire(dir, time.Now())
		if err != nil {
			return nil, err // a *dirlock.HeldError names the holder
		}
		r.lock = lock
	}
	opened := false
	defer func() {
		if !opened {
			r.lock.Release()
			r.dbLock.Release()
		}
	}()
	infoData, err := os.ReadFile(filepath.Join(dir, repoFile))
	switch {
	case errors.Is(err, fs.ErrNotExist) && !o.Dev:
		return nil, fmt.Errorf("%s holds no repository: start with --dev for a development repository, or create one with an admin ceremony", dir)
	case errors.Is(err, fs.ErrNotExist):
		if err := layout.CheckShardCount(o.Shards); err != nil {
			return nil, err
		}
		r.Info = RepoInfo{Shards: o.Shards, Dev: true}
		r.Created = true
	case err != nil:
		return nil, err
	default:
		if err := json.Unmarshal(infoData, &r.Info); err != nil {
			return nil, fmt.Errorf("%s is corrupt: %w", filepath.Join(dir, repoFile), err)
		}
		if o.Shards != 0 && o.Shards != r.Info.Shards && !r.Created {
			return nil, fmt.Errorf("the repository in %s has %d shards; the shard count is fixed when a repository is created (drop --shards, or use another --data directory)", dir, r.Info.Shards)
		}
	}
	source, err := loadSource(dir, false, r.Created, o.OnlinePIN)
	if err != nil {
		return nil, err
	}
	st, blobs, err := openStores(ctx, dir, o)
	if err != nil {
		return nil, err
	}
	// Served files are cached in memory; every write goes through this
	// wrapper so the cache never serves a stale copy.
	r.State, r.Blobs = st, newNotifyingBlobs(blobs)
	var rt *router
	if !o.embedded() {
		// Replicas share the database; each shard is published by the
		// holder of its lease (replicas.go).
		if r.dbLock, err = lockDatabase(ctx, o); err != nil {
			st.Close()
			return nil, err // a *postgres.HeldError names the holder
		}
		if o.Blobs != "" {
			rt = newRouter(st.(*postgres.DB), r.dbLock, r.Blobs, r.Info.Shards, o.Log)
		}
	}
	r.sec = &secrets{dir: dir, cur: source, pin: o.OnlinePIN}
	keys := r.sec.current
	cfg := publish.Config{State: st, Blobs: r.Blobs, Keys: keys, NextKeys: r.sec.nextKey,
		Policy: o.Policy, Shards: r.Info.Shards, Now: o.Now, Log: o.Log, Witnesses: witness.NewPool(nil, 0)}
	if rt != nil {
		cfg.Router = rt
	}
	r.Publisher = publish.New(ctx, cfg)
	if rt != nil {
		r.Replicated = true
		go rt.run(ctx, r.Publisher, o.Database)
	}

	ok, err := r.Publisher.Initialized(ctx)
	if err != nil {
		r.Close()
		return nil, err
	}
	if ok && r.Created {
		// A replica started with an empty data directory on a shared
		// database would sign with an online secret of its own.
		r.Close()
		os.Remove(filepath.Join(dir, secretFile))
		return nil, fmt.Errorf("the database already holds a repository, and %s holds none: give every replica a copy of the first replica's data directory", dir)
	}
	if ok && !o.embedded() {
		if err := checkOnlineKeys(ctx, r); err != nil {
			r.Close()
			return nil, err
		}
	}
	if !ok && !r.Info.Dev {
		if o.InitBundle == nil {
			r.Close()
			return nil, fmt.Errorf("the repository in %s has not been initialized: start it once with --init-bundle FILE, the admins' init ceremony", dir)
		}
		if err := initFromBundle(ctx, r, keys, o.InitBundle, o); err != nil {
			r.Close()
			return nil, fmt.Errorf("the init ceremony does not fit this repository: %w", err)
		}
	} else if !ok {
		if err := initDev(ctx, r, keys, o); err != nil {
			r.Close()
			return nil, err
		}
		data, _ := json.MarshalIndent(r.Info, "", "  ")
		if err := os.WriteFile(filepath.Join(dir, repoFile), data, 0o600); err != nil {
			r.Close()
			return nil, err
		}
	}
	if r.Info.DevWitness != "" && r.DevWitnessURL == "" {
		if err := r.startDevWitness(ctx, o); err != nil {
			r.Close()
			return nil, err
		}
	}
	if _, err := r.Publisher.Repair(ctx); err != nil {
		r.Close()
		return nil, fmt.Errorf("failed to repair published files: %w", err)
	}
	if err := removeLeftovers(ctx, r.StagingDir(), blobs, o.Log); err != nil {
		r.Close()
		return nil, err
	}
	tb, err := blobReadAll(ctx, blobs, layout.TrustFile)
	if err != nil {
		r.Close()
		return nil, err
	}
	tf, err := trust.Parse(tb)
	if err != nil {
		r.Close()
		return nil, err
	}
	r.Fingerprint = tf.Fingerprint()
	opened = true
	return r, nil
}

// lockDatabase joins the servers of the database; a standby waits until
// no other server runs.
func lockDatabase(ctx context.Context, o OpenOptions) (*postgres.Lock, error) {
	logged := false
	for {
		// Replicas must share the blob store: a server whose blobs are in
		// its own data directory runs alone on the database.
		mode := postgres.Replica
		switch {
		case o.Blobs == "":
			mode = postgres.Alone
		case o.Standby:
			mode = postgres.Standby
		}
		l, err := postgres.LockServer(ctx, o.Database, time.Now(), 2*time.Second, mode)
		var held *postgres.HeldError
		if !o.Standby || !errors.As(err, &held) {
			return l, err
		}
		if !logged {
			o.Log.Info("standing by: taking over when the server holding the database is gone", "holder", held.Error())
			logged = true
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(time.Second):
		}
	}
}

// removeLeftovers removes what a crash (kill -9, power loss) left behind:
// uploads that were being staged, at once (nothing is in flight before the
// server starts), and the blob store's temporary files, in the background
// (a walk of every blob directory), those older than now only. Until this
// ran, a crash in the middle of a large upload kept its bytes on disk for
// good.
func removeLeftovers(ctx context.Context, staging string, blobs store.Blobs, log *slog.Logger) error {
	entries, err := os.ReadDir(staging)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("failed to read the staging directory: %w", err)
	}
	for _, e := range entries {
		if e.Type().IsRegular() {
			if err := os.Remove(filepath.Join(staging, e.Name())); err != nil {
				return fmt.Errorf("failed to remove a leftover staged upload: %w", err)
			}
		}
	}
	if len(entries) > 0 {
		log.Info("removed leftover staged uploads", "files", len(entries))
	}
	// Only a blob directory leaves temporary files; an object store's
	// uploads are atomic.
	dir, ok := blobs.(interface {
		RemoveTemporary(ctx context.Context, before time.Time) (int, int64, error)
	})
	if !ok {
		return nil
	}
	start := time.Now()
	// A file's modification time comes from a coarser clock than
	// time.Now: one a write begins just after start can look a few
	// milliseconds older. A second of margin keeps writes in progress.
	before := start.Add(-time.Second)
	go func() {
		files, bytes, err := dir.RemoveTemporary(ctx, before)
		switch {
		case err != nil && ctx.Err() == nil:
			log.Error("failed to remove leftover temporary blob files", "err", err)
		case files > 0:
			log.Info("removed leftover temporary blob files", "files", files, "bytes", bytes, "duration", time.Since(start).Round(time.Millisecond))
		}
	}()
	return nil
}

// StagingDir is where uploads wait while they are checked.
func (r *Repo) StagingDir() string { return filepath.Join(r.Dir, stagingDir) }

// Close closes the stores and releases the data directory.
func (r *Repo) Close() error {
	if n, ok := r.Blobs.(*notifyingBlobs); ok {
		n.close()
	}
	err := r.State.Close()
	r.lock.Release()
	r.dbLock.Release()
	r.lock, r.dbLock = nil, nil
	return err
}

// LockLost is closed when this server lost its hold of a shared database
// (its lock's connection failed): it must stop, as another server may
// publish now. It is nil, never closed, for an embedded data directory.
func (r *Repo) LockLost() <-chan struct{} {
	if r.dbLock == nil {
		return nil
	}
	return r.dbLock.Lost()
}

func loadOrCreateSecret(path string, create bool) ([]byte, error) {
	data, err := os.ReadFile(path)
	if err == nil {
		secret, err := hex.DecodeString(strings.TrimSpace(string(data)))
		if err != nil || len(secret) != signing.OnlineSecretSize {
			return nil, fmt.Errorf("%s is corrupt: want %d bytes of hex", path, signing.OnlineSecretSize)
		}
		return secret, nil
	}
	if !errors.Is(err, fs.ErrNotExist) || !create {
		return nil, fmt.Errorf("failed to read the online secret: %w", err)
	}
	secret := make([]byte, signing.OnlineSecretSize)
	if _, err := rand.Read(secret); err != nil {
		return nil, err
	}
	if err := os.WriteFile(path, []byte(hex.EncodeToString(secret)+"\n"), 0o600); err != nil {
		return nil, err
	}
	return secret, nil
}

// initDev runs the key ceremony with development keys.
func initDev(ctx context.Context, r *Repo, online publish.OnlineKeys, o OpenOptions) error {
	keyDir := filepath.Join(r.Dir, DevKeysDir)
	if err := os.MkdirAll(keyDir, 0o700); err != nil {
		return err
	}
	devKey := func(name string) (*signing.Key, error) {
		path := filepath.Join(keyDir, name+".key")
		if data, err := os.ReadFile(path); err == nil {
			return signing.ParseKey(data, nil)
		}
		k, err := signing.Generate(devKeyLabel + " " + name + " key")
		if err != nil {
			return nil, err
		}
		data, err := k.Marshal(nil)
		if err != nil {
			return nil, err
		}
		return k, os.WriteFile(path, data, 0o600)
	}
	root, err := devKey("root")
	if err != nil {
		return err
	}
	targets, err := devKey("targets")
	if err != nil {
		return err
	}
	claim, err := devKey("claim")
	if err != nil {
		return err
	}
	var onlineErr error
	params := ceremony.Params{
		Shards: r.Info.Shards,
		Keys: ceremony.Keys{
			Root: []signing.PublicKey{root.Public()}, RootThreshold: 1,
			Targets: []signing.PublicKey{targets.Public()}, TargetsThreshold: 1,
			Claim: []signing.PublicKey{claim.Public()}, ClaimThreshold: 1,
		},
		Online: func(shard, role string) signing.PublicKey {
			k, err := online(shard, role)
			if err != nil {
				onlineErr = err
				return signing.PublicKey{}
			}
			return k.Public()
		},
		Policy: o.Policy, Now: o.Now(),
	}
	if o.DevWitness {
		w, err := newDevWitness(r.Dir, r.Info.Shards)
		if err != nil {
			return fmt.Errorf("failed to create the development witness: %w", err)
		}
		params.Witnesses = []*witness.Keys{w}
		r.Info.DevWitness = w.URL
	}
	shards, tf, err := ceremony.Init(params, ceremony.Signers{Root: []*signing.Key{root}, Targets: []*signing.Key{targets}, Claim: []*signing.Key{claim}})
	if err != nil {
		return err
	}
	if onlineErr != nil {
		return onlineErr
	}
	if o.DevWitness {
		// The witness pins the new repository's trust and answers before
		// the first timestamps are published.
		tfData, err := json.Marshal(tf)
		if err != nil {
			return err
		}
		id, err := witness.Load(filepath.Join(r.Dir, DevWitnessDir))
		if err != nil {
			return err
		}
		if err := id.Pin(tfData); err != nil {
			return err
		}
		if err := r.startDevWitness(ctx, o); err != nil {
			return err
		}
	}
	return r.Publisher.Bootstrap(ctx, shards, tf)
}

func blobReadAll(ctx context.Context, b store.Blobs, path string) ([]byte, error) {
	f, err := b.Open(ctx, path)
	if err != nil {
		return nil, fmt.Errorf("failed to read %s: %w", path, err)
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, 1<<20))
}

// checkOnlineKeys refuses to serve a shared database whose repository
// names other online keys than this data directory's: a replica started
// from another repository's data directory would sign metadata every
// client refuses.
func checkOnlineKeys(ctx context.Context, r *Repo) error {
	shard := layout.ShardIDs(r.Info.Shards)[0]
	rf, err := r.State.Role(ctx, shard, layout.RoleRoot)
	if err != nil {
		return err
	}
	root, err := tufmeta.Decode[metadata.RootType](rf.Data)
	if err != nil {
		return err
	}
	d, _ := tufmeta.RootDelegation(root, layout.RoleTimestamp)
	for _, keys := range []publish.OnlineKeys{r.sec.current, r.sec.nextKey} {
		if k, err := keys(shard, layout.RoleTimestamp); err == nil && slices.Contains(d.KeyIDs, k.ID()) {
			return nil
		}
	}
	return fmt.Errorf("the database holds a repository whose online keys are not those of %s: give every replica a copy of the data directory of the replica that created it", r.Dir)
}
