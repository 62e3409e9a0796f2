package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"

	"github.com/spf13/cobra"

	"hallmark.dev/hallmark/proxy"
)

type proxyOptions struct {
	listen string
	cache  string
	json   bool
}

func newProxyCmd(e *env) *cobra.Command {
	o := &proxyOptions{}
	c := &cobra.Command{
		Use:   "proxy",
		Short: "Serve a trusted repository to pip and npm, verifying every file",
		Long: `Run a local index for pip and npm in front of a repository you trust. Every page is
built from metadata verified against your pinned trust, and every file is verified
before a byte of it is sent; a file that fails verification is refused with the reason.

  pip install --index-url http://127.0.0.1:8081/pypi/simple/ NAME
  npm install --registry http://127.0.0.1:8081/npm/ NAME`,
		Args: exactArgs(0, "proxy [--listen HOST:PORT] [--json]"),
		RunE: func(c *cobra.Command, _ []string) error { return runProxy(c.Context(), e, o) },
	}
	c.Flags().StringVar(&o.listen, "listen", "127.0.0.1:8081", "address to listen on (HOST:PORT)")
	c.Flags().StringVar(&o.cache, "cache", "", "directory for verified files (default HOME/proxy-cache)")
	c.Flags().BoolVar(&o.json, "json", false, "log in JSON, one object a line")
	return c
}

func runProxy(ctx context.Context, e *env, o *proxyOptions) error {
	cl, err := openClient(e)
	if err != nil {
		return err
	}
	if o.cache == "" {
		home, err := e.home()
		if err != nil {
			return err
		}
		o.cache = filepath.Join(home, "proxy-cache")
	}
	var h slog.Handler = slog.NewTextHandler(e.stderr, nil)
	if o.json {
		h = slog.NewJSONHandler(e.stderr, nil)
	}
	log := slog.New(h)
	p, err := proxy.New(proxy.Options{Client: cl, CacheDir: o.cache, Log: log})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", o.listen)
	if err != nil {
		return withHint(fmt.Errorf("cannot listen on %s: %w", o.listen, err), "pick a free address with --listen 127.0.0.1:PORT")
	}
	url := "http://" + ln.Addr().String()
	log.Info("proxy ready", "repo", cl.Repo(), "pip", url+"/pypi/simple/", "npm", url+"/npm/")
	return p.Serve(ctx, ln)
}
