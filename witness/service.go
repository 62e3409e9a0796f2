package witness

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"hallmark.dev/hallmark/internal/atomicfile"
	"hallmark.dev/hallmark/layout"
	"hallmark.dev/hallmark/signing"
	"hallmark.dev/hallmark/trust"
	"hallmark.dev/hallmark/tufmeta"
)

// Files of a witness's data directory.
const (
	secretFile = "witness.secret"
	configFile = "witness.json"
	stateFile  = "witness.db"
)

// DefaultMaxExpiry is how far ahead a co-signed timestamp may expire by
// default: the repository's default timestamp validity (1 day) plus slack.
const DefaultMaxExpiry = 26 * time.Hour

// config is a witness's settings, kept in its data directory.
type config struct {
	Name string `json:"name"`
	// Trust is the repository's trust file, pinned when the witness first
	// serves; nil until then.
	Trust json.RawMessage `json:"trust,omitempty"`
}

// Init creates a witness's data directory: a new secret and its name. It
// refuses a directory that already holds a witness.
func Init(dir, name string) error {
	if err := CheckName(name); err != nil {
		return err
	}
	if _, err := os.Stat(filepath.Join(dir, secretFile)); err == nil {
		return fmt.Errorf("%s already holds a witness; use another --data directory", dir)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	secret := make([]byte, signing.WitnessSecretSize)
	if _, err := rand.Read(secret); err != nil {
		return err
	}
	if err := atomicfile.Write(filepath.Join(dir, secretFile), secret, 0o600); err != nil {
		return err
	}
	b, _ := json.MarshalIndent(config{Name: name}, "", "  ")
	return atomicfile.Write(filepath.Join(dir, configFile), b, 0o644)
}

// Identity is a witness's secret and name, read from its data directory.
type Identity struct {
	Name   string
	secret []byte
	cfg    config
	dir    string
}

// Load reads a witness's data directory.
func Load(dir string) (*Identity, error) {
	secret, err := os.ReadFile(filepath.Join(dir, secretFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%s holds no witness: create one with `hallmark witness init --data %s --name NAME`", dir, dir)
	}
	if err != nil {
		return nil, err
	}
	b, err := os.ReadFile(filepath.Join(dir, configFile))
	if err != nil {
		return nil, err
	}
	var cfg config
	if err := json.Unmarshal(b, &cfg); err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(dir, configFile), err)
	}
	if len(secret) != signing.WitnessSecretSize {
		return nil, fmt.Errorf("%s is damaged: want %d bytes", filepath.Join(dir, secretFile), signing.WitnessSecretSize)
	}
	return &Identity{Name: cfg.Name, secret: secret, cfg: cfg, dir: dir}, nil
}

// Key derives the witness's key for a shard.
func (id *Identity) Key(shard string) (*signing.Key, error) {
	return signing.DeriveWitness(id.secret, id.Name, shard)
}

// Export returns the witness's public keys for a repository of shards
// shards, to give to the repository's admins.
func (id *Identity) Export(url string, shards int) (*Keys, error) {
	if err := layout.CheckShardCount(shards); err != nil {
		return nil, err
	}
	if url == "" {
		return nil, errors.New("the witness's URL is missing: pass --url with the address the repository's server will reach it at")
	}
	out := &Keys{Name: id.Name, URL: url, Shards: shards, Keys: map[string]string{}}
	for _, s := range layout.ShardIDs(shards) {
		k, err := id.Key(s)
		if err != nil {
			return nil, err
		}
		out.Keys[s] = k.Public().String()
	}
	return out, nil
}

// PinnedTrust returns the trust file the witness pinned, or nil.
func (id *Identity) PinnedTrust() (*trust.File, error) {
	if id.cfg.Trust == nil {
		return nil, nil
	}
	return trust.Parse(id.cfg.Trust)
}

// Pin records the repository's trust file, once: a witness serves one
// repository for its whole life.
func (id *Identity) Pin(tf []byte) error {
	f, err := trust.Parse(tf)
	if err != nil {
		return err
	}
	if old, _ := id.PinnedTrust(); old != nil {
		if old.Fingerprint() != f.Fingerprint() {
			return fmt.Errorf("this witness already serves the repository with trust fingerprint %s, not %s: a witness serves one repository; create another with `hallmark witness init`", old.Fingerprint(), f.Fingerprint())
		}
		return nil
	}
	id.cfg.Trust = tf
	b, _ := json.MarshalIndent(id.cfg, "", "  ")
	return atomicfile.Write(filepath.Join(id.dir, configFile), b, 0o644)
}

// Service is a running witness: its identity, its pinned trust, its state.
type Service struct {
	id        *Identity
	trust     *trust.File
	db        *stateDB
	maxExpiry time.Duration
	now       func() time.Time
	log       *slog.Logger

	mu   sync.Mutex // one co-sign batch at a time: states never race
	keys map[string]*signing.Key
}

// Options configure a Service.
type Options struct {
	MaxExpiry time.Duration    // DefaultMaxExpiry when zero
	Now       func() time.Time // time.Now when nil
	Log       *slog.Logger
}

// Open starts a witness from its data directory, which must have pinned a
// trust file.
func Open(ctx context.Context, dir string, opt Options) (*Service, error) {
	id, err := Load(dir)
	if err != nil {
		return nil, err
	}
	tf, err := id.PinnedTrust()
	if err != nil {
		return nil, err
	}
	if tf == nil {
		return nil, fmt.Errorf("the witness in %s has pinned no repository yet: start it with --trust (the repository's trust.json, checked by its fingerprint)", dir)
	}
	db, err := openStateDB(ctx, filepath.Join(dir, stateFile))
	if err != nil {
		return nil, err
	}
	s := &Service{id: id, trust: tf, db: db, maxExpiry: opt.MaxExpiry, now: opt.Now, log: opt.Log, keys: map[string]*signing.Key{}}
	if s.maxExpiry <= 0 {
		s.maxExpiry = DefaultMaxExpiry
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	return s, nil
}

// Close closes the state store.
func (s *Service) Close() error { return s.db.Close() }

// Trust is the repository trust the witness pinned.
func (s *Service) Trust() *trust.File { return s.trust }

func (s *Service) key(shard string) (*signing.Key, error) {
	if k, ok := s.keys[shard]; ok {
		return k, nil
	}
	k, err := s.id.Key(shard)
	if err != nil {
		return nil, err
	}
	s.keys[shard] = k
	return k, nil
}

// Cosign checks every request and co-signs those that pass. States are
// stored, in one synced transaction, before any signature is returned.
func (s *Service) Cosign(ctx context.Context, reqs []Request) ([]Result, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rules := Rules{Trust: s.trust, MaxExpiry: s.maxExpiry, Now: s.now().UTC(), KeyID: func(shard string) string {
		k, err := s.key(shard)
		if err != nil {
			return ""
		}
		return k.ID()
	}}
	results := make([]Result, len(reqs))
	decisions := make([]*Decision, len(reqs))
	latest := map[string]*State{} // a batch may hold one shard twice
	var toStore []State
	for i, r := range reqs {
		results[i].Shard = r.Shard
		prev, ok := latest[r.Shard]
		if !ok {
			st, err := s.db.Get(ctx, r.Shard)
			if err != nil {
				return nil, err
			}
			prev = st
		}
		d, err := Check(rules, prev, r)
		if prev != nil {
			results[i].RootVersion = prev.RootVersion
		}
		if err != nil {
			var ref *Refusal
			if !errors.As(err, &ref) {
				return nil, err
			}
			results[i].Error = ref.Reason
			s.log.Warn("witness refused", "shard", r.Shard, "reason", ref.Reason)
			continue
		}
		key, err := s.key(r.Shard)
		if err != nil {
			return nil, err
		}
		if err := tufmeta.Sign(d.Timestamp, key); err != nil {
			return nil, err
		}
		if d.State.Cosigned, err = tufmeta.Encode(d.Timestamp); err != nil {
			return nil, err
		}
		decisions[i] = &d
		latest[r.Shard] = &d.State
		results[i].RootVersion = d.State.RootVersion
		if !d.Repeat {
			toStore = append(toStore, d.State)
		}
	}
	if err := s.db.Put(ctx, toStore); err != nil {
		return nil, err
	}
	for i, d := range decisions {
		if d == nil {
			continue
		}
		key, _ := s.key(results[i].Shard)
		for _, sig := range d.Timestamp.Signatures {
			if sig.KeyID == key.ID() {
				results[i].KeyID, results[i].Signature = sig.KeyID, sig.Signature
			}
		}
	}
	return results, nil
}

// Status returns what the witness co-signed last for a shard.
func (s *Service) Status(ctx context.Context, shard string) (Status, error) {
	st, err := s.db.Get(ctx, shard)
	if err != nil {
		return Status{}, err
	}
	if st == nil {
		return Status{}, ErrUnknownShard
	}
	return Status{Shard: shard, RootVersion: st.RootVersion, TimestampVersion: st.TimestampVersion, SnapshotVersion: st.SnapshotVersion, Updated: st.Updated, Cosigned: st.Cosigned}, nil
}

// Handler serves the witness's HTTP API.
func (s *Service) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+PathCosign, func(w http.ResponseWriter, r *http.Request) {
		var req CosignRequest
		dec := json.NewDecoder(io.LimitReader(r.Body, MaxRequestBytes))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&req); err != nil {
			http.Error(w, "malformed co-sign request: "+err.Error(), http.StatusBadRequest)
			return
		}
		res, err := s.Cosign(r.Context(), req.Requests)
		if err != nil {
			s.log.Error("co-sign failed", "err", err)
			http.Error(w, "the witness failed: "+err.Error(), http.StatusInternalServerError)
			return
		}
		writeJSON(w, CosignResponse{Results: res})
	})
	mux.HandleFunc("GET "+PathShard+"{shard}", func(w http.ResponseWriter, r *http.Request) {
		st, err := s.Status(r.Context(), r.PathValue("shard"))
		if errors.Is(err, ErrUnknownShard) {
			http.Error(w, err.Error(), http.StatusNotFound)
			return
		}
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		writeJSON(w, st)
	})
	mux.HandleFunc("GET "+PathKeys, func(w http.ResponseWriter, r *http.Request) {
		k, err := s.id.Export(strings.TrimSuffix("http://"+r.Host, "/"), s.trust.Shards)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		writeJSON(w, k)
	})
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, map[string]any{"ok": true, "name": s.id.Name, "shards": s.trust.Shards, "trust_fingerprint": s.trust.Fingerprint()})
	})
	return mux
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(v)
}
