// Command hallmark is the one binary of Hallmark: the server (`serve`), the
// downloader (`trust`, `versions`, `get`) and the maintainer's tools (`key`,
// `project`, `release`). This package only parses flags and wires packages
// together; behaviour lives in the packages it calls.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/spf13/cobra"
)

// Exit codes.
const (
	exitOK    = 0
	exitError = 1
	exitUsage = 2
)

// env is what every command shares: where to read and write, and the
// process environment.
type env struct {
	stdout, stderr io.Writer
	stdin          io.Reader
	getenv         func(string) string
	repoFlag       string
	homeFlag       string
	// timeout bounds waiting for the repository (commands with --timeout).
	timeout time.Duration
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	e := &env{stdout: os.Stdout, stderr: os.Stderr, stdin: os.Stdin, getenv: os.Getenv}
	os.Exit(run(ctx, e, os.Args[1:]))
}

func run(ctx context.Context, e *env, args []string) int {
	root := newRoot(e)
	root.SetArgs(args)
	root.SetOut(e.stdout)
	root.SetErr(e.stderr)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return exitOK
	}
	var ue *usageError
	if errors.As(err, &ue) {
		printError(e.stderr, err)
		return exitUsage
	}
	printError(e.stderr, err)
	return exitError
}

func newRoot(e *env) *cobra.Command {
	root := &cobra.Command{
		Use:   "hallmark",
		Short: "A community artifact repository that survives the compromise of its own servers",
		Long: `Hallmark publishes artifacts signed by their maintainers and verified by every downloader
with TUF. Start a development repository with 'hallmark serve --dev', trust it with
'hallmark trust URL', then create projects, upload releases and get them.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.PersistentFlags().StringVar(&e.repoFlag, "repo", "", "repository URL (default $HALLMARK_REPO, or the only trusted repository)")
	root.PersistentFlags().StringVar(&e.homeFlag, "home", "", "directory for keys, trust and caches (default $HALLMARK_HOME or ~/.config/hallmark)")
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return &usageError{msg: err.Error(), hint: "see '" + c.CommandPath() + " --help'"}
	})
	root.AddCommand(
		newServeCmd(e),
		newMigrateCmd(e),
		newTrustCmd(e),
		newKeyCmd(e),
		newProjectCmd(e),
		newReleaseCmd(e),
		newVersionsCmd(e),
		newGetCmd(e),
		newMemberCmd(e, "maintainer"),
		newMemberCmd(e, "owner"),
		newFileCmd(e),
		newPendingCmd(e),
		newApproveCmd(e),
		newInspectCmd(e),
		newProxyCmd(e),
		newAdminCmd(e),
		newWitnessCmd(e),
	)
	refuseUnknownSubcommands(root)
	setExamples(root)
	return root
}

// refuseUnknownSubcommands makes every command that only groups others
// fail on an unknown subcommand ("hallmark release uplod"), suggesting the
// nearest one, instead of printing help and succeeding.
func refuseUnknownSubcommands(c *cobra.Command) {
	for _, sub := range c.Commands() {
		refuseUnknownSubcommands(sub)
	}
	if !c.HasSubCommands() || c.Runnable() || c == c.Root() {
		return
	}
	c.SuggestionsMinimumDistance = 2
	c.Args = func(c *cobra.Command, args []string) error {
		if len(args) == 0 {
			return nil
		}
		hint := "see '" + c.CommandPath() + " --help' for its commands"
		if s := c.SuggestionsFor(args[0]); len(s) > 0 {
			hint = "did you mean '" + c.CommandPath() + " " + s[0] + "'?"
		}
		return &usageError{msg: fmt.Sprintf("unknown command %q for %q", args[0], c.CommandPath()), hint: hint}
	}
	c.RunE = func(c *cobra.Command, args []string) error {
		return &usageError{msg: c.CommandPath() + " needs a command", hint: "see '" + c.CommandPath() + " --help' for its commands"}
	}
}

// home returns the directory for keys, pinned trust and caches.
func (e *env) home() (string, error) {
	if e.homeFlag != "" {
		return e.homeFlag, nil
	}
	if h := e.getenv("HALLMARK_HOME"); h != "" {
		return h, nil
	}
	dir, err := os.UserConfigDir()
	if err != nil {
		return "", &hintError{err: errors.New("cannot find a home for Hallmark's files"), hint: "set HALLMARK_HOME to a directory"}
	}
	return filepath.Join(dir, "hallmark"), nil
}

// usageError is a mistake in how a command was called.
type usageError struct{ msg, hint string }

func (u *usageError) Error() string { return u.msg }

// hintError carries what to do next.
type hintError struct {
	err  error
	hint string
}

func (h *hintError) Error() string { return h.err.Error() }
func (h *hintError) Unwrap() error { return h.err }

func withHint(err error, hint string) error { return &hintError{err: err, hint: hint} }

// printError prints an error in the CLI's style: "hallmark: what went
// wrong", then what to do, if known.
func printError(w io.Writer, err error) {
	fmt.Fprintf(w, "hallmark: %v\n", err)
	var he *hintError
	var ue *usageError
	switch {
	case errors.As(err, &he) && he.hint != "":
		fmt.Fprintf(w, "%s\n", he.hint)
	case errors.As(err, &ue) && ue.hint != "":
		fmt.Fprintf(w, "%s\n", ue.hint)
	}
}
