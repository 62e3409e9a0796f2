package main

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"hallmark.dev/hallmark/client"
	"hallmark.dev/hallmark/maintainer"
)

func newReleaseCmd(e *env) *cobra.Command {
	c := &cobra.Command{Use: "release", Short: "Publish releases"}
	var keyName string
	var asJSON bool
	upload := &cobra.Command{
		Use:   "upload PROJECT VERSION FILE...",
		Short: "Sign and publish a release",
		Long: `Sign and publish release VERSION (SemVer 2.0, like 1.4.0 or 2.0.0-rc.1) of PROJECT
with one or more files. The tool learns the project's current state through TUF
verification, builds the next releases metadata, signs it with your key and uploads it.`,
		Args: func(c *cobra.Command, args []string) error {
			if len(args) < 3 {
				return &usageError{msg: "release upload needs a project, a version and at least one file", hint: "usage: hallmark release upload PROJECT VERSION FILE... --key NAME"}
			}
			return nil
		},
		RunE: func(c *cobra.Command, args []string) error {
			cl, err := openClient(e)
			if err != nil {
				return err
			}
			key, err := loadKey(e, keyName)
			if err != nil {
				return err
			}
			t := &maintainer.Tool{Client: cl}
			plan, err := t.PrepareUpload(c.Context(), args[0], args[1], args[2:], key)
			if err != nil {
				return explainRead(err, args[0])
			}
			fmt.Fprintln(e.stderr, plan.Summary())
			bar := newProgress(e, "uploading "+plan.Project+" "+plan.Version)
			rel, err := t.Upload(c.Context(), plan, key, bar.update)
			bar.done()
			if err != nil {
				return explainWrite(err)
			}
			if asJSON {
				return printJSON(e, map[string]any{"project": rel.Project, "version": rel.Version, "files": rel.Files, "shard": rel.Response.Shard, "snapshot_version": rel.Response.SnapshotVersion})
			}
			for _, f := range rel.Files {
				fmt.Fprintf(e.stderr, "  %s  %s  sha256:%s\n", f.Name, human(f.Length), f.SHA256)
			}
			fmt.Fprintf(e.stderr, "published %s %s\n", rel.Project, rel.Version)
			return nil
		},
	}
	upload.Flags().StringVar(&keyName, "key", "", "the maintainer key that signs (optional if you have one key)")
	upload.Flags().BoolVar(&asJSON, "json", false, "print the result as JSON")
	c.AddCommand(upload)
	return c
}

// explainWrite turns a write API error into a message with what to do.
func explainWrite(err error) error {
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
	switch {
	case errors.Is(err, client.ErrProjectNotFound):
		return withHint(err, "check the name, or create it with 'hallmark project create "+project+"'")
	case errors.As(err, &ve):
		return withHint(err, "the repository served metadata that does not verify against your pinned trust; nothing was used. Try again later, and report it to the repository's operators if it persists")
	}
	return err
}
