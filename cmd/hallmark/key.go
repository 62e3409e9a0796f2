package main

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"hallmark.dev/hallmark/signing"
)

func newKeyCmd(e *env) *cobra.Command {
	c := &cobra.Command{Use: "key", Short: "Create and show your signing keys"}
	var label string
	var forCI bool
	gen := &cobra.Command{
		Use:   "generate NAME",
		Short: "Create an encrypted ed25519 signing key",
		Long: `Create an ed25519 signing key, encrypted with a passphrase (asked for, or taken
from HALLMARK_PASSPHRASE), stored in $HALLMARK_HOME/keys/NAME.key.

With --for-ci, create a key for a CI job instead: it is encrypted with a new random
passphrase, stored nowhere, and printed with that passphrase as the two values to store
as CI secrets (HALLMARK_KEY and HALLMARK_PASSPHRASE), followed by the public half to add
as a maintainer of your project. See docs/maintainers.md, "Releases from CI".`,
		Args: exactArgs(1, "key generate NAME [--label \"Alice <alice@example.org>\"] [--for-ci]"),
		RunE: func(c *cobra.Command, args []string) error {
			if label == "" {
				label = args[0]
			}
			if forCI {
				return printCIKey(e, args[0], label)
			}
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
			k, err := keyring(home).Create(args[0], label, pass)
			if err != nil {
				return err
			}
			fmt.Fprintf(e.stderr, "created key %s (%s), id %s\nshare its public half with: hallmark key export %s\n", args[0], k.Label(), k.Public().ShortID(), args[0])
			return nil
		},
	}
	gen.Flags().StringVar(&label, "label", "", "a label others will see, like \"Alice <alice@example.org>\"")
	gen.Flags().BoolVar(&forCI, "for-ci", false, "print a key for a CI job as CI secrets, and store nothing")

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
				Kind  string `json:"kind"`
			}
			var rows []row
			for _, n := range names {
				pub, err := kr.Public(n)
				if err != nil {
					return fmt.Errorf("key %s: %w", n, err)
				}
				kind := "file"
				if raw, err := kr.Raw(n); err == nil && signing.IsToken(raw) {
					kind = "token"
				}
				rows = append(rows, row{n, pub.ID(), pub.Label, kind})
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
				fmt.Fprintf(e.stdout, "%s\t%s\t%s\t%s\n", r.Name, r.KeyID[:16], r.Kind, r.Label)
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
	c.AddCommand(gen, list, export, newKeyAddTokenCmd(e))
	return c
}

func newKeyAddTokenCmd(e *env) *cobra.Command {
	var uri, module, label string
	c := &cobra.Command{
		Use:   "add-token NAME --uri 'pkcs11:token=...;object=...' [--module PATH]",
		Short: "Register a signing key that stays on a hardware token (PKCS#11)",
		Long: `Register a key on a PKCS#11 token (a YubiKey's PIV slot, an HSM, SoftHSM) under NAME,
so that every command taking --key NAME signs with it. The key is found by its RFC 7512
URI, opened with the token's PIN (asked for, or taken from HALLMARK_PIN) and checked by
signing once; $HALLMARK_HOME/keys/NAME.key then keeps its public half, label, URI and
module path, never the PIN. The key must be ECDSA P-256 (every PIV token) or Ed25519.
--module is the token's PKCS#11 library: /usr/lib/softhsm/libsofthsm2.so for SoftHSM,
libykcs11.so (from yubico-piv-tool) for a YubiKey.`,
		Args: exactArgs(1, "key add-token NAME --uri 'pkcs11:token=...;object=...' [--module PATH]"),
		RunE: func(c *cobra.Command, args []string) error {
			if uri == "" {
				return &usageError{msg: "which key on which token?", hint: "pass --uri 'pkcs11:token=LABEL;object=KEYLABEL' (list keys with: pkcs11-tool --module PATH --list-objects --login)"}
			}
			u, err := signing.ParseTokenURI(uri)
			if err != nil {
				return withHint(err, "see RFC 7512; for example --uri 'pkcs11:token=alice;object=hallmark'")
			}
			if module == "" && u.ModulePath == "" {
				return &usageError{msg: "which PKCS#11 module reaches the token?", hint: "pass --module PATH, e.g. /usr/lib/softhsm/libsofthsm2.so or /usr/lib/x86_64-linux-gnu/libykcs11.so"}
			}
			home, err := e.home()
			if err != nil {
				return err
			}
			if label == "" {
				label = args[0]
			}
			pin, err := askSecret(e, "HALLMARK_PIN", "PIN of the token", false)
			if err != nil {
				return err
			}
			k, err := keyring(home).AddToken(args[0], label, module, u, pin)
			if errors.Is(err, signing.ErrWrongPIN) {
				return withHint(err, "check HALLMARK_PIN or type it again; tokens lock after a few wrong PINs")
			}
			if err != nil {
				return withHint(err, "nothing was registered")
			}
			defer k.Close()
			fmt.Fprintf(e.stderr, "registered token key %s (%s), id %s\nshare its public half with: hallmark key export %s\n", args[0], k.Label(), k.Public().ShortID(), args[0])
			return nil
		},
	}
	c.Flags().StringVar(&uri, "uri", "", "the key's RFC 7512 pkcs11: URI")
	c.Flags().StringVar(&module, "module", "", "path of the token's PKCS#11 module")
	c.Flags().StringVar(&label, "label", "", "a label others will see, like \"Alice <alice@example.org>\"")
	return c
}

// printCIKey creates a key for a CI job and prints it as CI secrets; it
// stores nothing.
func printCIKey(e *env, name, label string) error {
	ci, err := signing.GenerateForCI(label)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, `# A release key for CI: %s (id %s). Store the next two lines as secrets of your
# CI system (each value after the first '='), then clear this output: this key
# is stored nowhere else.
HALLMARK_KEY=%s
HALLMARK_PASSPHRASE=%s
# Make it a maintainer, never an owner, of your project (it signs releases only):
#   hallmark maintainer add PROJECT '%s'
# and let a human approve each CI release: hallmark project threshold PROJECT --releases 2
`, name, ci.Public.ShortID(), ci.Key, ci.Passphrase, ci.Public.String())
	return nil
}
