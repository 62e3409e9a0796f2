package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"hallmark.dev/hallmark/client"
	"hallmark.dev/hallmark/layout"
	"hallmark.dev/hallmark/trust"
	"hallmark.dev/hallmark/witness"
)

func newWitnessCmd(e *env) *cobra.Command {
	c := &cobra.Command{
		Use:   "witness",
		Short: "Run a witness: an independent co-signer of a repository's timestamps",
		Long: `A witness co-signs each shard's timestamp only when it rolls nothing back, so that
even someone holding the repository's online keys cannot serve old metadata to a
client that has never seen newer (a new user, a CI runner). A witness must be run
by someone other than the repository's operator, on another machine.

  hallmark witness init --data DIR --name NAME           create its secret
  hallmark witness key --data DIR --url URL --shards N   its public keys, for the admins
  hallmark witness serve --data DIR --addr HOST:PORT --trust URL --fingerprint FP`,
	}
	c.AddCommand(newWitnessInitCmd(e), newWitnessKeyCmd(e), newWitnessServeCmd(e))
	return c
}

func newWitnessInitCmd(e *env) *cobra.Command {
	var data, name string
	c := &cobra.Command{
		Use:     "init",
		Short:   "Create a witness's secret and state directory",
		Example: "  hallmark witness init --data /srv/witness --name witness.example.org",
		Args:    cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if err := witness.Init(data, name); err != nil {
				return withHint(err, "choose a name like a domain name, and an empty --data directory")
			}
			fmt.Fprintf(e.stderr, "created witness %s in %s\nnext: give the admins its keys: hallmark witness key --data %s --url URL --shards N -o %s.json\n", name, data, data, name)
			return nil
		},
	}
	c.Flags().StringVar(&data, "data", "./witness-data", "the witness's data directory")
	c.Flags().StringVar(&name, "name", "", "the witness's name, e.g. its operator's domain (required)")
	c.MarkFlagRequired("name")
	return c
}

func newWitnessKeyCmd(e *env) *cobra.Command {
	var data, url, out string
	var shards int
	c := &cobra.Command{
		Use:     "key",
		Short:   "Write the witness's public keys, which the admins name in every shard's root",
		Example: "  hallmark witness key --data /srv/witness --url https://witness.example.org --shards 256 -o witness.json",
		Args:    cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			id, err := witness.Load(data)
			if err != nil {
				return err
			}
			if tf, _ := id.PinnedTrust(); tf != nil && !c.Flags().Changed("shards") {
				shards = tf.Shards
			}
			if err := layout.CheckShardCount(shards); err != nil {
				return &usageError{msg: err.Error(), hint: "pass --shards with the repository's shard count"}
			}
			k, err := id.Export(url, shards)
			if err != nil {
				return &usageError{msg: err.Error(), hint: "pass --url URL"}
			}
			b, _ := json.MarshalIndent(k, "", "  ")
			b = append(b, '\n')
			if out == "" || out == "-" {
				_, err = e.stdout.Write(b)
				return err
			}
			return os.WriteFile(out, b, 0o644)
		},
	}
	c.Flags().StringVar(&data, "data", "./witness-data", "the witness's data directory")
	c.Flags().StringVar(&url, "url", "", "the URL the repository's server and admins reach the witness at (required)")
	c.Flags().IntVar(&shards, "shards", layout.DefaultShards, "the repository's shard count")
	c.Flags().StringVarP(&out, "output", "o", "", "file to write (default: standard output)")
	return c
}

func newWitnessServeCmd(e *env) *cobra.Command {
	var data, addr, trustSrc, fingerprint string
	var maxExpiry time.Duration
	c := &cobra.Command{
		Use:   "serve",
		Short: "Serve a witness's co-signing API",
		Long: `Serve the witness. The first start pins the repository's trust file (--trust, a
file or the repository's URL, checked against --fingerprint); later starts reuse it.`,
		Example: "  hallmark witness serve --data /srv/witness --addr 0.0.0.0:8443 --trust https://repo.example.org --fingerprint 3f2a...",
		Args:    cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			ctx := c.Context()
			log := slog.New(slog.NewTextHandler(e.stderr, nil)).With("witness", data)
			id, err := witness.Load(data)
			if err != nil {
				return err
			}
			if trustSrc != "" {
				raw, err := readTrustSource(ctx, trustSrc)
				if err != nil {
					return err
				}
				if fingerprint != "" {
					tf, err := trust.Parse(raw)
					if err != nil {
						return err
					}
					if !strings.EqualFold(strings.TrimSpace(fingerprint), tf.Fingerprint()) {
						return fmt.Errorf("the repository's trust fingerprint is %s, not %s: do not witness it until its admins confirm", tf.Fingerprint(), fingerprint)
					}
				}
				if err := id.Pin(raw); err != nil {
					return err
				}
			}
			svc, err := witness.Open(ctx, data, witness.Options{MaxExpiry: maxExpiry, Log: log})
			if err != nil {
				return err
			}
			defer svc.Close()
			ln, err := net.Listen("tcp", addr)
			if err != nil {
				return withHint(fmt.Errorf("cannot listen on %s: %w", addr, err), "choose another address with --addr HOST:PORT")
			}
			fmt.Fprintf(e.stderr, "witness %s at http://%s for the repository with trust fingerprint %s\n", id.Name, ln.Addr(), svc.Trust().Fingerprint())
			hs := &http.Server{Handler: svc.Handler(), ReadHeaderTimeout: 10 * time.Second, ReadTimeout: time.Minute}
			errc := make(chan error, 1)
			go func() { errc <- hs.Serve(ln) }()
			select {
			case err := <-errc:
				return err
			case <-ctx.Done():
			}
			sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if err := hs.Shutdown(sctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
				return err
			}
			return nil
		},
	}
	c.Flags().StringVar(&data, "data", "./witness-data", "the witness's data directory")
	c.Flags().StringVar(&addr, "addr", "127.0.0.1:8090", "address to listen on (HOST:PORT)")
	c.Flags().StringVar(&trustSrc, "trust", "", "the repository's trust file or URL, pinned at the first start")
	c.Flags().StringVar(&fingerprint, "fingerprint", "", "pin the trust only if its fingerprint is this one")
	c.Flags().DurationVar(&maxExpiry, "max-expiry", witness.DefaultMaxExpiry, "refuse timestamps that expire further ahead than this")
	return c
}

// readTrustSource reads a trust file from a path or a repository URL.
func readTrustSource(ctx context.Context, src string) ([]byte, error) {
	if strings.HasPrefix(src, "http://") || strings.HasPrefix(src, "https://") {
		_, raw, err := client.FetchTrust(ctx, client.Options{Repo: src})
		return raw, err
	}
	return os.ReadFile(src)
}
