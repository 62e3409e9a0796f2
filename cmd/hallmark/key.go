package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"hallmark.dev/hallmark/signing"
)

func newKeyCmd(e *env) *cobra.Command {
	c := &cobra.Command{Use: "key", Short: "Create and show your signing keys"}
	var label string
	gen := &cobra.Command{
		Use:   "generate NAME",
		Short: "Create an encrypted ed25519 signing key",
		Long: `Create an ed25519 signing key, encrypted with a passphrase (asked for, or taken
from HALLMARK_PASSPHRASE), stored in $HALLMARK_HOME/keys/NAME.key.`,
		Args: exactArgs(1, "key generate NAME [--label \"Alice <alice@example.org>\"]"),
		RunE: func(c *cobra.Command, args []string) error {
			home, err := e.home()
			if err != nil {
				return err
			}
			pass, err := passphrase(e, "passphrase for the new key", true)
			if err != nil {
				return err
			}
			if err := signing.CheckNewPassphrase(pass); err != nil {
				return withHint(err, "choose a longer passphrase (several words are easy to remember); keys are always stored encrypted")
			}
			if label == "" {
				label = args[0]
			}
			k, err := keyring(home).Create(args[0], label, pass)
			if err != nil {
				return err
			}
			fmt.Fprintf(e.stderr, "created key %s (%s), id %s\nshare its public half with: hallmark key export %s\n", args[0], k.Label(), k.Public().ShortID(), args[0])
			return nil
		},
	}
	gen.Flags().StringVar(&label, "label", "", "a label others will see, like \"Alice <alice@example.org>\"")

	var asJSON bool
	list := &cobra.Command{
		Use:   "list",
		Short: "List your signing keys",
		Args:  exactArgs(0, "key list"),
		RunE: func(c *cobra.Command, args []string) error {
			home, err := e.home()
			if err != nil {
				return err
			}
			kr := keyring(home)
			names, err := kr.Names()
			if err != nil {
				return err
			}
			type row struct {
				Name  string `json:"name"`
				KeyID string `json:"keyid"`
				Label string `json:"label"`
			}
			var rows []row
			for _, n := range names {
				pub, err := kr.Public(n)
				if err != nil {
					return fmt.Errorf("key %s: %w", n, err)
				}
				rows = append(rows, row{n, pub.ID(), pub.Label})
			}
			if asJSON {
				if rows == nil {
					rows = []row{}
				}
				return printJSON(e, rows)
			}
			if len(rows) == 0 {
				fmt.Fprintln(e.stderr, "no keys yet; create one with 'hallmark key generate NAME'")
			}
			for _, r := range rows {
				fmt.Fprintf(e.stdout, "%s\t%s\t%s\n", r.Name, r.KeyID[:16], r.Label)
			}
			return nil
		},
	}
	list.Flags().BoolVar(&asJSON, "json", false, "print JSON")

	export := &cobra.Command{
		Use:   "export NAME",
		Short: "Print a key's public half in the one-line form others paste",
		Args:  exactArgs(1, "key export NAME"),
		RunE: func(c *cobra.Command, args []string) error {
			home, err := e.home()
			if err != nil {
				return err
			}
			pub, err := keyring(home).Public(args[0])
			if err != nil {
				return withHint(err, "list your keys with 'hallmark key list'")
			}
			fmt.Fprintln(e.stdout, pub.String())
			return nil
		},
	}
	c.AddCommand(gen, list, export)
	return c
}
