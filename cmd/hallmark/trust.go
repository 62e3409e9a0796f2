package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"hallmark.dev/hallmark/client"
)

type trustOptions struct {
	yes         bool
	fingerprint string
}

func newTrustCmd(e *env) *cobra.Command {
	o := &trustOptions{}
	c := &cobra.Command{
		Use:   "trust URL",
		Short: "Pin a repository's root keys after checking its fingerprint",
		Long: `Show a repository's trust fingerprint and pin it after confirmation.

Compare the fingerprint with one you got from the repository's operators
through another channel (their website, an announcement). Every other
command refuses an unpinned repository, and verifies everything it reads
against what you pin here.`,
		Args: exactArgs(1, "trust URL"),
		RunE: func(c *cobra.Command, args []string) error {
			home, err := e.home()
			if err != nil {
				return err
			}
			opts := client.Options{Repo: args[0], Home: home}
			tf, raw, err := client.FetchTrust(c.Context(), opts)
			if err != nil {
				return withHint(err, "check the URL; is the server running?")
			}
			fp := tf.Fingerprint()
			fmt.Fprintf(e.stderr, "repository:  %s\nshards:      %d\nroot keys:   %d (threshold %d)\nfingerprint: %s\n", args[0], tf.Shards, len(tf.RootKeys), tf.RootThreshold, fp)
			switch {
			case o.fingerprint != "":
				if !strings.EqualFold(strings.TrimSpace(o.fingerprint), fp) {
					return withHint(fmt.Errorf("the repository's fingerprint %s differs from the expected %s", fp, o.fingerprint), "do not use this repository until its operators confirm the fingerprint")
				}
			case o.yes:
			default:
				ok, err := confirm(e, "Does this fingerprint match the one the repository's operators published?")
				if err != nil {
					return err
				}
				if !ok {
					return errors.New("not trusted")
				}
			}
			if err := client.Pin(opts, raw); err != nil {
				return err
			}
			fmt.Fprintf(e.stderr, "trusted %s\n", args[0])
			return nil
		},
	}
	c.Flags().BoolVar(&o.yes, "yes", false, "accept the fingerprint shown, without asking")
	c.Flags().StringVar(&o.fingerprint, "fingerprint", "", "pin only if the repository's fingerprint is this one")
	return c
}

// openClient opens the pinned repository the user means.
func openClient(e *env) (*client.Client, error) {
	home, err := e.home()
	if err != nil {
		return nil, err
	}
	repo := e.repoFlag
	if repo == "" {
		repo = e.getenv("HALLMARK_REPO")
	}
	if repo == "" {
		pinned := pinnedRepos(home)
		switch len(pinned) {
		case 0:
			return nil, withHint(errors.New("no repository given and none trusted yet"), "trust one with 'hallmark trust URL', or pass --repo URL")
		case 1:
			repo = pinned[0]
		default:
			return nil, withHint(fmt.Errorf("you trust %d repositories; which one?", len(pinned)), "pass --repo URL or set HALLMARK_REPO (one of: "+strings.Join(pinned, ", ")+")")
		}
	}
	c, err := client.Open(client.Options{Repo: repo, Home: home, Timeout: e.timeout})
	if errors.Is(err, client.ErrNotPinned) {
		return nil, withHint(fmt.Errorf("you have not trusted %s yet", repo), "check its fingerprint and pin it with 'hallmark trust "+repo+"'")
	}
	return c, err
}

func pinnedRepos(home string) []string {
	files, _ := filepath.Glob(filepath.Join(home, "repos", "*", "repo-url"))
	var out []string
	for _, f := range files {
		if b, err := os.ReadFile(f); err == nil {
			out = append(out, strings.TrimSpace(string(b)))
		}
	}
	return out
}

func exactArgs(n int, usage string) cobra.PositionalArgs {
	return func(c *cobra.Command, args []string) error {
		if len(args) != n {
			return &usageError{msg: fmt.Sprintf("%s takes %d argument(s), got %d", c.CommandPath(), n, len(args)), hint: "usage: hallmark " + usage}
		}
		return nil
	}
}

func printJSON(e *env, v any) error {
	enc := json.NewEncoder(e.stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// verifiedProject opens the repository the user means and learns a
// project's state through TUF verification.
func verifiedProject(ctx context.Context, e *env, name string) (*client.Client, *client.Project, error) {
	cl, err := openClient(e)
	if err != nil {
		return nil, nil, err
	}
	p, err := cl.Project(ctx, name)
	if err != nil {
		return nil, nil, explainRead(err, name)
	}
	return cl, p, nil
}
