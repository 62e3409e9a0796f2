package main

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"hallmark.dev/hallmark/client"
	"hallmark.dev/hallmark/maintainer"
)

func newReleaseCmd(e *env) *cobra.Command {
	c := &cobra.Command{Use: "release", Short: "Publish, yank and unyank releases"}
	o := &signOptions{}
	details := &detailsOptions{}
	upload := &cobra.Command{
		Use:   "upload PROJECT VERSION FILE...",
		Short: "Sign and publish a release",
		Long: `Sign and publish release VERSION (SemVer 2.0, like 1.4.0 or 2.0.0-rc.1) of PROJECT
with one or more files. The tool learns the project's current state through TUF
verification, builds the next releases metadata, signs it with your key and uploads it.
With a releases threshold above 1, the release waits for other maintainers'
approval ('hallmark approve'). On a terminal it shows the change and asks before
signing (--yes signs without asking); elsewhere (CI) it signs what it shows.

What the project says about itself (a description, a README, homepage and repository
links, a licence) travels with a release, signed by the maintainers like its files: set it
with the flags below or a JSON file (--details FILE); what is not given stays as it is.

Uploading a release that is already published with exactly the same files (names,
sizes, sha256) succeeds and changes nothing, so a retried CI job does not fail.`,
		Args: func(c *cobra.Command, args []string) error {
			if len(args) < 3 {
				return &usageError{msg: "release upload needs a project, a version and at least one file", hint: "usage: hallmark release upload PROJECT VERSION FILE... --key NAME"}
			}
			return nil
		},
		RunE: func(c *cobra.Command, args []string) error {
			meta, err := details.update(c)
			if err != nil {
				return err
			}
			err = runPlan(c.Context(), e, o, isTerminal(e.stdin), args[0], func(ctx context.Context, t *maintainer.Tool) (*maintainer.Plan, error) {
				return t.PlanReleaseWith(ctx, args[0], args[1], args[2:], meta)
			})
			var ap *maintainer.AlreadyPublished
			if !errors.As(err, &ap) {
				return err
			}
			if o.asJSON {
				return printJSON(e, map[string]any{"project": ap.Project, "version": ap.Version, "status": "already_published"})
			}
			fmt.Fprintf(e.stderr, "%s; nothing to do\n", ap.Error())
			return nil
		},
	}
	o.register(upload, true)
	details.register(upload)
	c.AddCommand(upload, newYankCmd(e, true), newYankCmd(e, false))
	return c
}

// explainWrite turns a write API error into a message with what to do.
func explainWrite(err error) error {
	if errors.Is(err, context.Canceled) {
		return withHint(errors.New("interrupted before the repository answered: the change was most likely not published"),
			"run the same command again; a release that did get published is then reported as already published")
	}
	var ae *maintainer.APIError
	if errors.As(err, &ae) {
		switch ae.Body.Code {
		case "conflict":
			return withHint(fmt.Errorf("%s", ae.Body.Message), "someone published first; run the command again")
		case "needs_signatures":
			return withHint(fmt.Errorf("%s", ae.Body.Message), ae.Body.Hint)
		}
		if ae.Body.Hint != "" {
			return withHint(fmt.Errorf("the repository refused the change: %s", ae.Body.Message), ae.Body.Hint)
		}
		return withHint(fmt.Errorf("the repository refused the change: %s", ae.Body.Message), "nothing was published")
	}
	return err
}

// explainRead adds what to do to errors of reading verified state.
func explainRead(err error, project string) error {
	var ve *client.VerificationError
	var ne *client.NetworkError
	switch {
	case errors.As(err, &ne):
		return withHint(err, "nothing was verified or saved; check that the repository is up and reachable (your network, a proxy), then try again")
	case errors.Is(err, client.ErrBlocked):
		return withHint(err, "the repository's admins blocked it; its files are neither served nor trusted")
	case errors.Is(err, client.ErrProjectNotFound):
		return withHint(err, "check the name, or create it with 'hallmark project create "+project+"'")
	case errors.As(err, &ve):
		return withHint(err, "the repository served metadata that does not verify against your pinned trust; nothing was used. Try again later, and report it to the repository's operators if it persists")
	}
	return err
}

// detailsOptions are the flags that set what a project says about itself.
type detailsOptions struct {
	description, readme, homepage, repository, license, file string
}

func (d *detailsOptions) register(c *cobra.Command) {
	c.Flags().StringVar(&d.description, "description", "", "one line saying what the project is")
	c.Flags().StringVar(&d.readme, "readme", "", "a file whose text is the project's README")
	c.Flags().StringVar(&d.homepage, "homepage", "", "the project's homepage (http:// or https://)")
	c.Flags().StringVar(&d.repository, "repository", "", "the project's source repository (http:// or https://)")
	c.Flags().StringVar(&d.license, "license", "", "the licence, as an SPDX expression (like MIT or Apache-2.0)")
	c.Flags().StringVar(&d.file, "details", "", "a JSON file with any of description, readme, homepage, repository, license")
}

// update returns the change the flags ask for, nil if none.
func (d *detailsOptions) update(c *cobra.Command) (*maintainer.MetaUpdate, error) {
	var u maintainer.MetaUpdate
	set := false
	if d.file != "" {
		data, err := os.ReadFile(d.file)
		if err != nil {
			return nil, withHint(err, "pass --details FILE with a JSON object")
		}
		f, err := maintainer.ParseMetaFile(data)
		if err != nil {
			return nil, withHint(fmt.Errorf("%s: %w", d.file, err), `like {"description": "...", "homepage": "https://...", "license": "MIT"}`)
		}
		u.Merge(f)
		set = true
	}
	for _, f := range []struct {
		flag string
		v    string
		dst  **string
	}{{"description", d.description, &u.Description}, {"homepage", d.homepage, &u.Homepage}, {"repository", d.repository, &u.Repository}, {"license", d.license, &u.License}} {
		if c.Flags().Changed(f.flag) {
			v := f.v
			*f.dst, set = &v, true
		}
	}
	if c.Flags().Changed("readme") {
		data, err := os.ReadFile(d.readme)
		if err != nil {
			return nil, withHint(err, "pass --readme FILE with the README's text")
		}
		text := string(data)
		u.Readme, set = &text, true
	}
	if !set {
		return nil, nil
	}
	return &u, nil
}
