package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"hallmark.dev/hallmark/internal/dirlock"
	"hallmark.dev/hallmark/layout"
	"hallmark.dev/hallmark/server"
	"hallmark.dev/hallmark/store/postgres"
	"hallmark.dev/hallmark/web"
)

type serveOptions struct {
	dev       bool
	addr      string
	data      string
	shards    int
	maxUpload int64
	renew     time.Duration
	pending   time.Duration
	bundle    string
	tokens    string
	rate      int
	database  string
	blobs     string
	standby   bool
	limits    server.Limits
	pprof     string
	noWitness bool
	recheck   time.Duration
}

func newServeCmd(e *env) *cobra.Command {
	o := &serveOptions{}
	c := &cobra.Command{
		Use:   "serve",
		Short: "Run a repository server",
		Long: `Run a Hallmark repository server.

With --dev and an empty data directory, it first creates a development repository:
development offline keys (stored unencrypted in DATA/dev-keys: never for real use),
the online secret and the signed initial metadata of every shard. Later starts reuse them.`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if c.Flags().Changed("repo") || c.Flags().Changed("home") {
				return &usageError{msg: "serve takes no --repo or --home: those pick a repository and keys for the client commands", hint: "use --data DIR for the server's data and --addr HOST:PORT for where it listens"}
			}
			return runServe(c.Context(), e, o, c.Flags().Changed("shards"))
		},
	}
	// The client's global flags (--repo, --home) mean nothing to a server:
	// its help does not list them.
	c.SetHelpFunc(func(c *cobra.Command, args []string) {
		c.Root().PersistentFlags().VisitAll(func(f *pflag.Flag) { f.Hidden = true })
		c.Root().HelpFunc()(c, args)
	})
	c.Flags().BoolVar(&o.dev, "dev", false, "create a development repository if the data directory has none")
	c.Flags().BoolVar(&o.noWitness, "no-witness", false, "with --dev: create the development repository without a witness (fresh clients are then only as safe as the online keys)")
	c.Flags().StringVar(&o.addr, "addr", "127.0.0.1:8080", "address to listen on (HOST:PORT)")
	c.Flags().StringVar(&o.data, "data", "./hallmark-data", "data directory")
	c.Flags().StringVar(&o.database, "database", "", "PostgreSQL URL of the state store, postgres://USER:PASSWORD@HOST:PORT/DATABASE (default: SQLite in the data directory)")
	c.Flags().BoolVar(&o.standby, "standby", false, "with --database: wait while another server runs on the database, and start when none does (without it, the server joins the others as one more replica)")
	c.Flags().StringVar(&o.blobs, "blobs", "", "S3 bucket of published files, s3://BUCKET/PREFIX?endpoint=URL&region=REGION (default: the data directory's blobs/)")
	c.Flags().IntVar(&o.shards, "shards", layout.DefaultShards, "shard count of a new repository: 1, 16, 256 or 4096")
	c.Flags().Int64Var(&o.maxUpload, "max-upload", server.DefaultMaxUpload, "largest write request accepted, in bytes")
	c.Flags().StringVar(&o.bundle, "init-bundle", "", "the admins' init ceremony, to initialize a data directory made by 'hallmark admin prepare'")
	c.Flags().StringVar(&o.tokens, "registration-tokens", "", "file of registration tokens, one a line, accepted when the settings require one to create a project")
	c.Flags().IntVar(&o.rate, "create-rate", 30, "project creations allowed per client address per minute (0: no limit)")
	c.Flags().DurationVar(&o.pending, "pending-ttl", server.DefaultPendingTTL, "how long a change waits for co-signatures before it is dropped")
	c.Flags().DurationVar(&o.renew, "renew-every", 10*time.Minute, "how often to check whether online metadata needs renewal")
	c.Flags().DurationVar(&o.recheck, "file-recheck", server.DefaultFileRecheck, "longest time a published file held in memory goes unchecked against the disk when the kernel reports changes to its directory; a change it does not report (NFS from another machine) is served within this (0: check on every request)")
	d := server.DefaultLimits()
	c.Flags().DurationVar(&o.limits.ReadHeaderTimeout, "read-header-timeout", d.ReadHeaderTimeout, "time a client has to send a request's headers")
	c.Flags().DurationVar(&o.limits.IdleTimeout, "idle-timeout", d.IdleTimeout, "time a kept-alive connection may sit idle")
	c.Flags().DurationVar(&o.limits.BodyGrace, "body-grace", d.BodyGrace, "time a request body may take before --body-min-rate applies")
	c.Flags().Int64Var(&o.limits.MinBodyRate, "body-min-rate", d.MinBodyRate, "slowest average rate, in bytes a second, at which a request body may arrive (408 if slower)")
	c.Flags().IntVar(&o.limits.MaxConns, "max-conns", d.MaxConns, "open connections of all clients together (503 beyond)")
	c.Flags().IntVar(&o.limits.MaxConnsPerClient, "max-conns-per-client", d.MaxConnsPerClient, "open connections of one client address (429 beyond)")
	c.Flags().IntVar(&o.limits.MaxRequestsPerClient, "max-requests-per-client", d.MaxRequestsPerClient, "requests of one client address in progress at once (429 beyond)")
	c.Flags().StringVar(&o.pprof, "pprof", "", "serve Go's profiler (/debug/pprof/) on this address, e.g. 127.0.0.1:6060 (off by default; keep it private)")
	return c
}

func runServe(ctx context.Context, e *env, o *serveOptions, shardsSet bool) error {
	if err := layout.CheckShardCount(o.shards); err != nil {
		return &usageError{msg: err.Error(), hint: "pass --shards 1, 16, 256 or 4096"}
	}
	if err := o.limits.Check(); err != nil {
		return &usageError{msg: err.Error(), hint: "see 'hallmark serve --help' for the limits and their defaults"}
	}
	if err := server.CheckDatabaseURL(o.database); err != nil {
		return &usageError{msg: err.Error(), hint: "see 'hallmark serve --help'"}
	}
	if o.standby && o.database == "" {
		return &usageError{msg: "--standby needs --database", hint: "a data directory (SQLite) is held by one server; a standby shares a PostgreSQL database"}
	}
	log := slog.New(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	shards := o.shards
	if !shardsSet {
		shards = 0 // an existing repository keeps its own count
		if o.dev {
			shards = o.shards
		}
	}
	start := time.Now()
	var bundle []byte
	if o.bundle != "" {
		var err error
		if bundle, err = os.ReadFile(o.bundle); err != nil {
			return err
		}
	}
	var tokens []string
	if o.tokens != "" {
		data, err := os.ReadFile(o.tokens)
		if err != nil {
			return err
		}
		for _, l := range strings.Split(string(data), "\n") {
			if l = strings.TrimSpace(l); l != "" {
				tokens = append(tokens, l)
			}
		}
	}
	repo, err := server.OpenRepo(ctx, o.data, server.OpenOptions{Dev: o.dev, Shards: shards, Log: log, InitBundle: bundle,
		DevWitness: o.dev && !o.noWitness, WitnessLog: e.stderr, OnlinePIN: []byte(e.getenv("HALLMARK_PIN")),
		Database: o.database, Blobs: o.blobs, Standby: o.standby})
	var held *dirlock.HeldError
	if errors.As(err, &held) {
		return withHint(err, fmt.Sprintf("stop that server first (process %d), or give this one another --data directory", held.Holder.PID))
	}
	var dbHeld *postgres.HeldError
	if errors.As(err, &dbHeld) {
		return withHint(err, "replicas share a bucket (--blobs s3://...) and then run side by side; a server with its own blobs runs alone: stop that server first, or start this one with --standby to take over when it is gone")
	}
	if errors.Is(err, postgres.ErrSchema) {
		return withHint(err, "") // the message says which version and what to run
	}
	var storeErr *server.StoreError
	if errors.As(err, &storeErr) {
		return withHint(err, "check --database and --blobs, and that the database and the bucket answer")
	}
	if err != nil {
		return withHint(err, "check --data, or start a development repository with 'hallmark serve --dev'")
	}
	defer repo.Close()
	witnessURL := repo.DevWitnessURL
	if witnessURL != "" {
		if behind := repo.Publisher.Behind(); len(behind) > 0 {
			return fmt.Errorf("the development witness did not co-sign %d shard(s), e.g. %s", len(behind), firstValue(behind))
		}
	}
	if o.recheck <= 0 {
		o.recheck = -1 // the server's "on every request"
	}
	var lastPromoteErr atomic.Value // string
	srv, err := server.New(server.Config{
		State: repo.State, Blobs: repo.Blobs, Publisher: repo.Publisher, Shards: repo.Info.Shards,
		StagingDir: repo.StagingDir(), MaxUpload: o.maxUpload, Log: log, Dev: repo.Info.Dev,
		Policy: layout.DefaultPolicy(), PendingTTL: o.pending, RegistrationTokens: tokens, CreateRate: o.rate, Limits: o.limits,
		FileRecheck: o.recheck, SharedState: repo.Replicated,
		AfterCeremony: func(ctx context.Context) {
			if ok, err := repo.PromoteOnlineSecret(ctx); err != nil {
				// Runs every second with replicas: say each new failure once.
				if msg := err.Error(); lastPromoteErr.Swap(msg) != msg {
					log.Error("failed to finish the online key rotation", "err", err)
				}
			} else if ok {
				log.Info("online key rotation finished: the next online secret is now in force")
			}
		},
		Web: web.New(web.Config{State: repo.State, Blobs: repo.Blobs, Shards: repo.Info.Shards, Renewal: web.RenewalFrom(repo.Publisher), Log: log, Dev: repo.Info.Dev, Witnesses: repo.Publisher}),
	})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", o.addr)
	if err != nil {
		return withHint(fmt.Errorf("cannot listen on %s: %w", o.addr, err), "choose another address with --addr HOST:PORT")
	}
	url := "http://" + ln.Addr().String()
	abs, _ := filepath.Abs(o.data)
	if repo.Created {
		fmt.Fprintf(e.stderr, "created a development repository in %s (%d shards) in %s\n", abs, repo.Info.Shards, time.Since(start).Round(time.Millisecond))
	}
	fmt.Fprintf(e.stderr, "Hallmark repository at %s\n", url)
	fmt.Fprintf(e.stderr, "  data:              %s\n", abs)
	fmt.Fprintf(e.stderr, "  shards:            %d\n", repo.Info.Shards)
	fmt.Fprintf(e.stderr, "  trust fingerprint: %s\n", repo.Fingerprint)
	if witnessURL != "" {
		fmt.Fprintf(e.stderr, "  witness:           %s (a development witness in %s; a real one is run by someone else, elsewhere)\n", witnessURL, filepath.Join(abs, server.DevWitnessDir))
	}
	if repo.Info.Dev {
		fmt.Fprintf(e.stderr, "  DEVELOPMENT ONLY:  offline keys are unencrypted in %s; never use this repository for real releases\n", filepath.Join(abs, server.DevKeysDir))
	}
	fmt.Fprintf(e.stderr, "trust it with: hallmark trust %s --fingerprint %s\n", url, repo.Fingerprint)

	go repo.Publisher.RunRenewal(ctx, o.renew)
	if repo.Info.Dev {
		go runDevOfflineRenewal(ctx, repo, srv.Policy, log, o.renew)
	}
	go srv.RunCleanUp(ctx, time.Hour)
	if repo.Replicated {
		go srv.RunRefresh(ctx, server.RefreshEvery)
	}
	if o.pprof != "" {
		addr, err := server.ServePprof(ctx, o.pprof, log)
		if err != nil {
			return withHint(err, "choose another address with --pprof HOST:PORT")
		}
		fmt.Fprintf(e.stderr, "  profiler:          http://%s/debug/pprof/\n", addr)
	}
	hs := srv.HTTPServer(ctx)
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(srv.Listener(ln)) }()
	var lockErr error
	select {
	case err := <-errc:
		return err
	case <-repo.LockLost():
		lockErr = errors.New("lost the database's server lock (its connection failed): stopping, since another replica may publish this one's shards now")
		log.Error("lost the database's server lock; stopping")
	case <-ctx.Done():
	}
	fmt.Fprintln(e.stderr, "shutting down")
	sctx, scancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer scancel()
	if err := hs.Shutdown(sctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	cancel()
	repo.Publisher.Wait()
	return lockErr
}

// runDevOfflineRenewal keeps a development repository's offline metadata
// fresh with its development keys.
func runDevOfflineRenewal(ctx context.Context, repo *server.Repo, policy func() layout.Policy, log *slog.Logger, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if n, err := repo.RenewDevOffline(ctx, policy(), time.Now()); err != nil && ctx.Err() == nil {
			log.Error("renewing development offline metadata failed", "err", err)
		} else if n > 0 {
			log.Info("renewed development offline metadata", "shards", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// firstValue returns one "key: value" of a map, for a short message.
func firstValue(m map[string]string) string {
	for k, v := range m {
		return k + ": " + v
	}
	return ""
}
