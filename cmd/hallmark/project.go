package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"hallmark.dev/hallmark/maintainer"
)

func newProjectCmd(e *env) *cobra.Command {
	c := &cobra.Command{Use: "project", Short: "Create and manage projects"}
	var keyName, token string
	create := &cobra.Command{
		Use:   "create PROJECT",
		Short: "Register a project, owned and maintained by your key",
		Long: `Register a project. Your key becomes its owner and maintainer (threshold 1).
The project is usable at once; until the repository's admins claim it, it is
as safe as the server's online key.`,
		Args: exactArgs(1, "project create PROJECT --key NAME"),
		RunE: func(c *cobra.Command, args []string) error {
			cl, err := openClient(e)
			if err != nil {
				return err
			}
			key, err := loadKey(e, keyName)
			if err != nil {
				return err
			}
			fmt.Fprintf(e.stderr, "create project %s, owned and maintained by key %s (%s)\n", args[0], key.Public().ShortID(), key.Label())
			if token == "" {
				token = e.getenv("HALLMARK_REGISTRATION_TOKEN")
			}
			t := &maintainer.Tool{Client: cl, RegistrationToken: token}
			res, err := t.CreateProject(c.Context(), args[0], key)
			if err != nil {
				return explainWrite(err)
			}
			fmt.Fprintf(e.stderr, "created %s (shard %s)\nupload a release with: hallmark release upload %s VERSION FILE...\n", res.Project, res.Shard, res.Project)
			return nil
		},
	}
	create.Flags().StringVar(&keyName, "key", "", "the key that will own the project (optional if you have one key)")
	create.Flags().StringVar(&token, "registration-token", "", "a registration token, for repositories that require one (default $HALLMARK_REGISTRATION_TOKEN)")
	c.AddCommand(create, newShowCmd(e), newThresholdCmd(e), newRenewCmd(e))
	return c
}
