package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"hallmark.dev/hallmark/admin"
	"hallmark.dev/hallmark/api"
	"hallmark.dev/hallmark/ceremony"
	"hallmark.dev/hallmark/explain"
	"hallmark.dev/hallmark/layout"
	"hallmark.dev/hallmark/server"
	"hallmark.dev/hallmark/signing"
	"hallmark.dev/hallmark/witness"
)

// adminOptions are the flags admin ceremonies share.
type adminOptions struct {
	keys   string
	names  []string
	yes    bool
	out    string
	asJSON bool
}

func (o *adminOptions) register(c *cobra.Command) {
	c.Flags().StringVar(&o.keys, "keys", "", "directory holding this admin's offline keys (*.key)")
	c.Flags().StringArrayVar(&o.names, "key", nil, "a key of your keyring that signs: a key file or a token key from 'hallmark key add-token' (repeatable)")
	c.Flags().BoolVar(&o.yes, "yes", false, "sign and submit without asking")
	c.Flags().StringVarP(&o.out, "output", "o", "", "where to save the ceremony while it needs more signatures (default ./ceremony-KIND.json)")
	c.Flags().BoolVar(&o.asJSON, "json", false, "print the result as JSON")
}

func newAdminCmd(e *env) *cobra.Command {
	c := &cobra.Command{
		Use:   "admin",
		Short: "Repository admins' ceremonies (offline keys)",
		Long: `Ceremonies of the repository's admins, who hold the offline keys (root, targets, claim).
Every ceremony is built from state verified through TUF, explained in plain words, signed
with the keys in --keys DIR and submitted once every role has its threshold; with several
admins, the first saves the ceremony to a file and the others run 'hallmark admin sign FILE'.`,
	}
	c.AddCommand(newAdminPrepareCmd(e), newAdminInitCmd(e), newAdminSignCmd(e), newAdminSubmitCmd(e),
		newAdminStatusCmd(e), newAdminClaimCmd(e), newAdminBlockCmd(e, true), newAdminBlockCmd(e, false),
		newAdminRotateCmd(e), newAdminRenewCmd(e), newAdminConfigCmd(e), newAdminWitnessCmd(e))
	return c
}

// loadAdminKeys opens the admin's keys: every key in --keys DIR and each
// --key NAME of the keyring (key files or token keys), or else the key in
// HALLMARK_KEY / HALLMARK_KEY_FILE.
func loadAdminKeys(e *env, o *adminOptions) ([]*signing.Key, error) {
	if o.keys == "" && len(o.names) == 0 {
		if k, ok, err := envKey(e); ok {
			if err != nil {
				return nil, err
			}
			return []*signing.Key{k}, nil
		}
		return nil, &usageError{msg: "which keys sign?", hint: "pass --keys DIR, the directory of your offline keys (for a development repository: DATA/dev-keys), or --key NAME for a key of your keyring such as a token key"}
	}
	var keys []*signing.Key
	if o.keys != "" {
		dirKeys, err := admin.LoadKeys(o.keys, secrets(e, "offline key"))
		if err != nil {
			return nil, withHint(err, "check --keys DIR")
		}
		keys = dirKeys
	}
	for _, name := range o.names {
		k, err := loadKey(e, name)
		if err != nil {
			return nil, err
		}
		keys = append(keys, k)
	}
	return keys, nil
}

func adminTool(e *env) (*admin.Tool, error) {
	cl, err := openClient(e)
	if err != nil {
		return nil, err
	}
	t := &admin.Tool{Client: cl}
	if isTerminal(e.stderr) {
		t.Progress = func(done, total int) {
			if total > 1 {
				fmt.Fprintf(e.stderr, "\rverifying shards %d/%d", done, total)
				if done == total {
					fmt.Fprint(e.stderr, "\r\033[K")
				}
			}
		}
	}
	return t, nil
}

// finishCeremony shows a ceremony, then submits it if complete (after
// confirmation) or saves it for the other admins.
func finishCeremony(ctx context.Context, e *env, t *admin.Tool, b *ceremony.Bundle, rep *admin.Report, o *adminOptions) error {
	fmt.Fprintf(e.stderr, "ceremony %q will\n", b.Kind)
	for _, l := range rep.Lines {
		fmt.Fprintf(e.stderr, "  - %s\n", l)
	}
	if len(rep.LeftUnclaimed) > 0 {
		fmt.Fprintf(e.stderr, "and leaves unclaimed, because their owners' own signed changes do not lead to the keys the server shows:\n")
		for _, l := range rep.LeftUnclaimed {
			fmt.Fprintf(e.stderr, "  ! %s\n", l)
		}
	}
	if rep.Added == 0 && !rep.Complete() && o.out == "" && b.Kind != ceremony.KindInit {
		return withHint(errors.New("none of your keys can sign this ceremony"), "check --keys DIR; to prepare the ceremony for admins who hold the keys, pass -o FILE")
	}
	if !rep.Complete() || b.Kind == ceremony.KindInit {
		out := o.out
		if out == "" {
			out = "ceremony-" + b.Kind + ".json"
		}
		if err := b.Save(out); err != nil {
			return err
		}
		if !rep.Complete() {
			fmt.Fprintf(e.stderr, "it needs more signatures:\n")
			for _, m := range rep.Missing {
				fmt.Fprintf(e.stderr, "  - %s\n", m)
			}
			fmt.Fprintf(e.stderr, "saved to %s; other admins add theirs with: hallmark admin sign %s --keys DIR\n", out, out)
		} else {
			fmt.Fprintf(e.stderr, "saved to %s; start the server with it: hallmark serve --data DIR --init-bundle %s\n", out, out)
		}
		return nil
	}
	if !o.yes {
		ok, err := confirm(e, "Submit it?")
		if err != nil {
			return err
		}
		if !ok {
			return errors.New("nothing was submitted")
		}
	}
	return submitCeremony(ctx, e, t, b, o)
}

// runCeremony is the shape of the admin ceremonies: open the repository,
// load the admin's keys, build and sign the ceremony, then submit it or
// save it for the other admins.
func runCeremony(ctx context.Context, e *env, o *adminOptions, build func(*admin.Tool, []*signing.Key) (*ceremony.Bundle, *admin.Report, error)) error {
	t, err := adminTool(e)
	if err != nil {
		return err
	}
	keys, err := loadAdminKeys(e, o)
	if err != nil {
		return err
	}
	b, rep, err := build(t, keys)
	if err != nil {
		return err
	}
	return finishCeremony(ctx, e, t, b, rep, o)
}

func submitCeremony(ctx context.Context, e *env, t *admin.Tool, b *ceremony.Bundle, o *adminOptions) error {
	results, err := t.Submit(ctx, b)
	if err != nil {
		return withHint(err, "nothing was published")
	}
	failed := 0
	for _, r := range results {
		if r.Status != api.StatusPublished {
			failed++
			fmt.Fprintf(e.stderr, "shard %s: refused: %s\n", r.Shard, r.Error)
		}
	}
	if o.asJSON {
		if err := printJSON(e, results); err != nil {
			return err
		}
	}
	if failed > 0 {
		return withHint(fmt.Errorf("%d of %d shard(s) refused the ceremony", failed, len(results)), "the other shards published it; fix the cause and run the ceremony again")
	}
	fmt.Fprintf(e.stderr, "published in %d shard(s)\n", len(results))
	if b.Trust != nil && b.Kind != ceremony.KindInit {
		fmt.Fprintf(e.stderr, "the repository's trust fingerprint is now %s: publish it for new users (users who pinned it before follow the new roots by themselves)\n", b.Trust.Fingerprint())
	}
	return nil
}

func newAdminPrepareCmd(e *env) *cobra.Command {
	var data, out, tokenURI, module string
	var shards int
	var rotate bool
	c := &cobra.Command{
		Use:   "prepare --data DIR --shards N",
		Short: "On the server: create a production data directory and export its online public keys",
		Long: `Run on the server machine. Creates DIR with the shard count and the online secret
(which never leaves DIR) and writes the online public keys of every shard to the
output file, for the admins' 'hallmark admin init' ceremony.

With --online-token 'pkcs11:token=LABEL' --module PATH, the online keys are instead
generated on a PKCS#11 token (an HSM): one ECDSA P-256 key per shard for each of the
timestamp, snapshot and new-projects roles, which never leave the token. The token's
PIN is asked for or read from HALLMARK_PIN, and 'hallmark serve' then needs HALLMARK_PIN.
With --rotate-online, the next online keys go on the token (or, without --online-token,
are derived from a new online secret), so a rotation moves the keys to or from a token.`,
		Args: exactArgs(0, "admin prepare --data DIR --shards N [-o online-keys.json] [--online-token URI --module PATH]"),
		RunE: func(c *cobra.Command, _ []string) error {
			var tok *server.OnlineToken
			if tokenURI != "" {
				u, err := signing.ParseTokenOnlyURI(tokenURI)
				if err != nil {
					return withHint(err, "name the token, e.g. --online-token 'pkcs11:token=hallmark-online'")
				}
				if module == "" && u.ModulePath == "" {
					return &usageError{msg: "which PKCS#11 module reaches the token?", hint: "pass --module PATH, e.g. /usr/lib/softhsm/libsofthsm2.so"}
				}
				pin, err := askSecret(e, "HALLMARK_PIN", "PIN of the token for the online keys", false)
				if err != nil {
					return err
				}
				tok = &server.OnlineToken{Module: module, URI: u, PIN: pin}
			} else if module != "" {
				return &usageError{msg: "--module needs --online-token", hint: "name the token with --online-token 'pkcs11:token=LABEL'"}
			}
			if rotate {
				var keys *ceremony.OnlineKeys
				var err error
				if tok != nil {
					keys, err = server.PrepareOnlineRotationOnToken(data, tok)
				} else {
					keys, err = server.PrepareOnlineRotation(data)
				}
				if err != nil {
					return err
				}
				b, _ := json.MarshalIndent(keys, "", " ")
				if err := os.WriteFile(out, b, 0o644); err != nil {
					return err
				}
				fmt.Fprintf(e.stderr, "prepared the next online keys in %s; give %s to the admins for 'hallmark admin rotate online --online-keys %s'\nits fingerprint, for the admins to compare: %s\n", data, out, out, keys.Fingerprint())
				return nil
			}
			var keys *ceremony.OnlineKeys
			var err error
			if tok != nil {
				keys, err = server.PrepareRepoOnToken(data, shards, tok)
			} else {
				keys, err = server.PrepareRepo(data, shards)
			}
			if err != nil {
				return err
			}
			b, _ := json.MarshalIndent(keys, "", " ")
			if err := os.WriteFile(out, b, 0o644); err != nil {
				return err
			}
			fmt.Fprintf(e.stderr, "prepared %s (%d shards); give %s to the admins for 'hallmark admin init'\n", data, shards, out)
			return nil
		},
	}
	c.Flags().StringVar(&data, "data", "./hallmark-data", "data directory")
	c.Flags().IntVar(&shards, "shards", 16, "shard count: 1, 16, 256 or 4096")
	c.Flags().StringVarP(&out, "output", "o", "online-keys.json", "where to write the online public keys")
	c.Flags().BoolVar(&rotate, "rotate-online", false, "prepare an online key rotation: create the next online keys and export their public keys")
	c.Flags().StringVar(&tokenURI, "online-token", "", "generate the online keys on this PKCS#11 token (RFC 7512 URI naming the token)")
	c.Flags().StringVar(&module, "module", "", "the token's PKCS#11 module, with --online-token")
	return c
}

func newAdminInitCmd(e *env) *cobra.Command {
	o := &adminOptions{}
	var onlineFile string
	var rootN, rootT, witnessT int
	var witnessFiles []string
	var extraRoot, rootNames []string
	var targetsName, claimName string
	c := &cobra.Command{
		Use:   "init --keys DIR --online-keys FILE",
		Short: "The key ceremony: create the offline keys and sign every shard's initial metadata",
		Long: `Creates, in --keys DIR, the offline keys that do not exist yet (root-1 … root-N,
targets, claim; encrypted with a passphrase), and signs the initial root, targets and
claimed bin of every shard, naming the server's online keys (from 'hallmark admin
prepare'). With --root-pubkey, other admins' root keys join; they sign with
'hallmark admin sign'. --root-key, --targets-key and --claim-key use keys of your
keyring instead, such as hardware token keys registered with 'hallmark key add-token'. The result is a ceremony file for 'hallmark serve --init-bundle'.`,
		Args: exactArgs(0, "admin init --keys DIR --online-keys FILE"),
		RunE: func(c *cobra.Command, _ []string) error {
			if onlineFile == "" {
				return &usageError{msg: "admin init needs --online-keys FILE", hint: "get the online keys file from 'hallmark admin prepare' on the server"}
			}
			if o.keys == "" && (len(rootNames) == 0 || targetsName == "" || claimName == "") {
				return &usageError{msg: "admin init needs --keys DIR for the offline keys it creates", hint: "or name existing keys of your keyring (token keys too) with --root-key, --targets-key and --claim-key"}
			}
			data, err := os.ReadFile(onlineFile)
			if err != nil {
				return err
			}
			online, err := ceremony.ParseOnline(data)
			if err != nil {
				return err
			}
			// The passphrase of the key files in --keys DIR, asked once.
			var pass []byte
			kr := signing.Keyring{Dir: o.keys}
			get := func(name, label string) (*signing.Key, error) {
				if pass == nil {
					if pass, err = passphrase(e, "passphrase for new offline keys", true); err != nil {
						return nil, err
					}
				}
				if _, err := kr.Raw(name); err == nil {
					return kr.Open(name, signing.Secrets{
						Passphrase: func(string) ([]byte, error) { return pass, nil },
						PIN:        secrets(e, "offline key").PIN,
					})
				}
				if err := signing.CheckNewPassphrase(pass); err != nil {
					return nil, withHint(err, "choose a longer passphrase for the new offline keys")
				}
				fmt.Fprintf(e.stderr, "creating offline key %s\n", filepath.Join(o.keys, name+".key"))
				return kr.Create(name, label, pass)
			}
			named := func(name, dirName, label string) (*signing.Key, error) {
				if name != "" {
					return loadKey(e, name)
				}
				return get(dirName, label)
			}
			var keys []*signing.Key
			p := admin.InitParams{Online: online, RootThreshold: rootT, TargetsThreshold: 1, ClaimThreshold: 1, Now: time.Now(), WitnessThreshold: witnessT}
			if p.Witnesses, err = readWitnessKeys(witnessFiles); err != nil {
				return err
			}
			if len(p.Witnesses) == 0 {
				fmt.Fprintln(e.stderr, "warning: no --witness: fresh clients (new users, CI runners) will be only as safe as the server's online keys; add witnesses later with 'hallmark admin witness add'")
			}
			for _, name := range rootNames {
				k, err := loadKey(e, name)
				if err != nil {
					return err
				}
				keys = append(keys, k)
				p.Root = append(p.Root, k.Public())
			}
			if len(rootNames) > 0 && !c.Flags().Changed("root-keys") {
				rootN = 0
			}
			for i := 1; i <= rootN; i++ {
				k, err := get(fmt.Sprintf("root-%d", i), fmt.Sprintf("root key %d", i))
				if err != nil {
					return err
				}
				keys = append(keys, k)
				p.Root = append(p.Root, k.Public())
			}
			for _, s := range extraRoot {
				pk, err := readPublicKey(s)
				if err != nil {
					return err
				}
				p.Root = append(p.Root, pk)
			}
			tk, err := named(targetsName, "targets", "targets key")
			if err != nil {
				return err
			}
			ck, err := named(claimName, "claim", "claim key")
			if err != nil {
				return err
			}
			keys = append(keys, tk, ck)
			p.Targets, p.Claim = []signing.PublicKey{tk.Public()}, []signing.PublicKey{ck.Public()}
			b, rep, err := admin.Init(p, keys)
			if err != nil {
				return err
			}
			tf := b.Trust
			fmt.Fprintf(e.stderr, "trust fingerprint of the new repository: %s\n", tf.Fingerprint())
			return finishCeremony(c.Context(), e, nil, b, rep, o)
		},
	}
	o.register(c)
	c.Flags().StringVar(&onlineFile, "online-keys", "", "the server's online public keys, from 'hallmark admin prepare'")
	c.Flags().IntVar(&rootN, "root-keys", 3, "how many root keys to create in --keys DIR")
	c.Flags().IntVar(&rootT, "root-threshold", 2, "how many root keys must sign root changes")
	c.Flags().StringArrayVar(&extraRoot, "root-pubkey", nil, "another admin's root public key (repeatable)")
	c.Flags().StringArrayVar(&rootNames, "root-key", nil, "a key of your keyring (a token key, say) that becomes a root key (repeatable); then no root-N keys are created unless --root-keys is given")
	c.Flags().StringVar(&targetsName, "targets-key", "", "a key of your keyring to use as the targets key, instead of creating one in --keys DIR")
	c.Flags().StringVar(&claimName, "claim-key", "", "a key of your keyring to use as the claim key, instead of creating one in --keys DIR")
	c.Flags().StringArrayVar(&witnessFiles, "witness", nil, "a witness's keys file, from 'hallmark witness key' (repeatable)")
	c.Flags().IntVar(&witnessT, "timestamp-threshold", 0, "signatures a timestamp needs: the online key plus witnesses (default: the online key and a majority of the witnesses)")
	return c
}

// readWitnessKeys reads witness keys files.
func readWitnessKeys(files []string) ([]*witness.Keys, error) {
	var out []*witness.Keys
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		k, err := witness.ParseKeys(data)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", f, err)
		}
		out = append(out, k)
	}
	return out, nil
}

func newAdminWitnessCmd(e *env) *cobra.Command {
	c := &cobra.Command{
		Use:   "witness add|remove",
		Short: "Change the witnesses that co-sign every shard's timestamp",
		Long: `Witnesses co-sign each shard's timestamp only when it rolls nothing back; every
shard's root names them, with how many signatures a timestamp needs (the online key
plus witnesses). Changing them is a root ceremony in every shard.`,
	}
	for _, add := range []bool{true, false} {
		o := &adminOptions{}
		var threshold int
		use, short, example := "add FILE... --keys DIR", "Add witnesses (their 'hallmark witness key' files)", "  hallmark admin witness add witness-example-org.json --keys ./offline-keys"
		if !add {
			use, short, example = "remove NAME... --keys DIR", "Remove witnesses by name", "  hallmark admin witness remove witness.example.org --keys ./offline-keys"
		}
		cmd := &cobra.Command{
			Use:     use,
			Short:   short,
			Example: example,
			Args:    cobra.MinimumNArgs(1),
			RunE: func(c *cobra.Command, args []string) error {
				wc := admin.WitnessChange{Threshold: threshold}
				if add {
					ws, err := readWitnessKeys(args)
					if err != nil {
						return err
					}
					wc.Add = ws
				} else {
					wc.Remove = args
				}
				return runCeremony(c.Context(), e, o, func(t *admin.Tool, keys []*signing.Key) (*ceremony.Bundle, *admin.Report, error) {
					return t.Witnesses(c.Context(), wc, keys)
				})
			},
		}
		cmd.Flags().IntVar(&threshold, "timestamp-threshold", 0, "signatures a timestamp needs: the online key plus witnesses (default: the online key and a majority of the witnesses)")
		o.register(cmd)
		c.AddCommand(cmd)
	}
	return c
}

func newAdminSignCmd(e *env) *cobra.Command {
	o := &adminOptions{}
	c := &cobra.Command{
		Use:   "sign FILE --keys DIR",
		Short: "Verify, explain and add your signatures to a ceremony another admin started",
		Args:  exactArgs(1, "admin sign FILE --keys DIR"),
		RunE: func(c *cobra.Command, args []string) error {
			b, err := ceremony.LoadBundle(args[0])
			if err != nil {
				return err
			}
			keys, err := loadAdminKeys(e, o)
			if err != nil {
				return err
			}
			t := &admin.Tool{}
			if b.Kind != ceremony.KindInit {
				if t, err = adminTool(e); err != nil {
					return err
				}
			}
			rep, base, err := t.Check(c.Context(), b)
			if err != nil {
				return withHint(fmt.Errorf("refusing to sign: %w", err), "nothing was signed")
			}
			fmt.Fprintf(e.stderr, "ceremony %q (verified against the repository's current state) will\n", b.Kind)
			for _, l := range rep.Lines {
				fmt.Fprintf(e.stderr, "  - %s\n", l)
			}
			if !o.yes {
				ok, err := confirm(e, "Sign it with your keys?")
				if err != nil {
					return err
				}
				if !ok {
					return errors.New("nothing was signed")
				}
			}
			n, err := admin.Sign(b, base, keys)
			if err != nil {
				return err
			}
			if n == 0 {
				return withHint(errors.New("none of your keys can add a signature to this ceremony"), "check --keys DIR: it may have signed already")
			}
			if rep, _, err = t.Check(c.Context(), b); err != nil {
				return err
			}
			if err := b.Save(args[0]); err != nil {
				return err
			}
			fmt.Fprintf(e.stderr, "added %d signature(s) to %s\n", n, args[0])
			switch {
			case !rep.Complete():
				for _, m := range rep.Missing {
					fmt.Fprintf(e.stderr, "  still missing: %s\n", m)
				}
			case b.Kind == ceremony.KindInit:
				fmt.Fprintf(e.stderr, "complete: start the server with 'hallmark serve --data DIR --init-bundle %s'\n", args[0])
			default:
				fmt.Fprintf(e.stderr, "complete: submit it with 'hallmark admin submit %s'\n", args[0])
			}
			return nil
		},
	}
	o.register(c)
	return c
}

func newAdminSubmitCmd(e *env) *cobra.Command {
	o := &adminOptions{}
	c := &cobra.Command{
		Use:   "submit FILE",
		Short: "Verify a complete ceremony and publish it",
		Args:  exactArgs(1, "admin submit FILE"),
		RunE: func(c *cobra.Command, args []string) error {
			b, err := ceremony.LoadBundle(args[0])
			if err != nil {
				return err
			}
			t, err := adminTool(e)
			if err != nil {
				return err
			}
			rep, _, err := t.Check(c.Context(), b)
			if err != nil {
				return withHint(fmt.Errorf("refusing to submit: %w", err), "nothing was published")
			}
			if !rep.Complete() {
				return withHint(fmt.Errorf("the ceremony still needs signatures: %s", strings.Join(rep.Missing, "; ")), "have the other admins run 'hallmark admin sign "+args[0]+"'")
			}
			return finishCeremony(c.Context(), e, t, b, rep, o)
		},
	}
	o.register(c)
	return c
}

func newAdminClaimCmd(e *env) *cobra.Command {
	o := &adminOptions{}
	var all bool
	c := &cobra.Command{
		Use:   "claim [--all | PROJECT...] --keys DIR",
		Short: "Move new projects under the claim key, and apply owners' owner-change requests",
		RunE: func(c *cobra.Command, args []string) error {
			if all == (len(args) > 0) {
				return &usageError{msg: "name the projects to claim, or pass --all", hint: "see waiting projects with 'hallmark admin status'"}
			}
			t, err := adminTool(e)
			if err != nil {
				return err
			}
			projects := args
			var owners []string
			if all {
				st, err := t.Waiting(c.Context())
				if err != nil {
					return err
				}
				projects, owners = st.Unclaimed, st.OwnerChanges
				if len(projects)+len(owners) == 0 {
					fmt.Fprintln(e.stderr, "nothing waits to be claimed")
					return nil
				}
			}
			keys, err := loadAdminKeys(e, o)
			if err != nil {
				return err
			}
			b, rep, err := t.Claim(c.Context(), projects, owners, keys)
			if err != nil {
				return err
			}
			return finishCeremony(c.Context(), e, t, b, rep, o)
		},
	}
	o.register(c)
	c.Flags().BoolVar(&all, "all", false, "claim every project waiting, and apply every owner-change request")
	return c
}

func newAdminBlockCmd(e *env, block bool) *cobra.Command {
	o := &adminOptions{}
	var reason string
	use, short := "unblock PROJECT --keys DIR", "Restore a blocked project's owners"
	if block {
		use, short = "block PROJECT --reason TEXT --keys DIR", "Stop serving a project at once, and make every client refuse it (claim key)"
	}
	c := &cobra.Command{
		Use:   use,
		Short: short,
		Args:  exactArgs(1, "admin "+use),
		RunE: func(c *cobra.Command, args []string) error {
			if block && strings.TrimSpace(reason) == "" {
				return &usageError{msg: "a block needs a reason, shown to users", hint: "pass --reason TEXT"}
			}
			return runCeremony(c.Context(), e, o, func(t *admin.Tool, keys []*signing.Key) (*ceremony.Bundle, *admin.Report, error) {
				return t.Block(c.Context(), args[0], reason, block, keys)
			})
		},
	}
	if block {
		c.Flags().StringVar(&reason, "reason", "", "why the project is blocked")
	}
	o.register(c)
	return c
}

func newAdminRotateCmd(e *env) *cobra.Command {
	o := &adminOptions{}
	var add, remove []string
	var threshold int
	var onlineFile string
	c := &cobra.Command{
		Use:   "rotate root|targets|claim|online --keys DIR [--add PUBKEY]... [--remove KEYID]... [--threshold N] [--online-keys FILE]",
		Short: "Change the keys of a role in every shard in one pass",
		Long: `Change the keys of a role in every shard in one pass: root (the old and the new root
thresholds sign), targets, claim, or online (the server's timestamp, snapshot and
new-projects keys: prepare the next ones on the server with
'hallmark admin prepare --data DIR --rotate-online', then pass --online-keys FILE).`,
		Args: exactArgs(1, "admin rotate root|targets|claim --keys DIR [--add PUBKEY] [--remove KEYID] [--threshold N]"),
		RunE: func(c *cobra.Command, args []string) error {
			kc := admin.KeyChange{Role: args[0], Remove: remove, Threshold: threshold}
			if args[0] == "online" {
				if onlineFile == "" {
					return &usageError{msg: "rotating online keys needs --online-keys FILE", hint: "create it on the server with 'hallmark admin prepare --data DIR --rotate-online'"}
				}
				data, err := os.ReadFile(onlineFile)
				if err != nil {
					return err
				}
				if kc.Online, err = ceremony.ParseOnline(data); err != nil {
					return err
				}
				threshold = 1 // only the online keys change
			}
			for _, a := range add {
				pk, err := readPublicKey(a)
				if err != nil {
					return err
				}
				kc.Add = append(kc.Add, pk)
			}
			if len(kc.Add)+len(kc.Remove) == 0 && threshold == 0 {
				return &usageError{msg: "nothing to rotate", hint: "pass --add PUBKEY, --remove KEYID and/or --threshold N"}
			}
			return runCeremony(c.Context(), e, o, func(t *admin.Tool, keys []*signing.Key) (*ceremony.Bundle, *admin.Report, error) {
				return t.Rotate(c.Context(), kc, keys)
			})
		},
	}
	c.Flags().StringArrayVar(&add, "add", nil, "a public key to add (one-line form or file; repeatable)")
	c.Flags().StringArrayVar(&remove, "remove", nil, "a key id (or 8+ leading hex digits) to remove (repeatable)")
	c.Flags().IntVar(&threshold, "threshold", 0, "the new threshold (default: unchanged)")
	c.Flags().StringVar(&onlineFile, "online-keys", "", "the server's next online public keys (rotate online)")
	o.register(c)
	return c
}

func newAdminRenewCmd(e *env) *cobra.Command {
	o := &adminOptions{}
	var force bool
	c := &cobra.Command{
		Use:   "renew --keys DIR",
		Short: "Re-sign offline metadata inside its signing period, in every shard",
		Args:  exactArgs(0, "admin renew --keys DIR [--force]"),
		RunE: func(c *cobra.Command, _ []string) error {
			return runCeremony(c.Context(), e, o, func(t *admin.Tool, keys []*signing.Key) (*ceremony.Bundle, *admin.Report, error) {
				return t.Renew(c.Context(), force, keys)
			})
		},
	}
	c.Flags().BoolVar(&force, "force", false, "renew every offline role, due or not")
	o.register(c)
	return c
}

func newAdminStatusCmd(e *env) *cobra.Command {
	var asJSON bool
	c := &cobra.Command{
		Use:   "status",
		Short: "What needs the admins: expiring metadata, projects to claim, owner changes, blocks, renewal",
		Args:  exactArgs(0, "admin status [--json]"),
		RunE: func(c *cobra.Command, _ []string) error {
			t, err := adminTool(e)
			if err != nil {
				return err
			}
			st, err := t.Waiting(c.Context())
			if err != nil {
				return err
			}
			if asJSON {
				return printJSON(e, st)
			}
			w := e.stdout
			now := time.Now()
			fmt.Fprintf(w, "repository %s (%d shards) — the server's view; ceremonies verify what they use\n\nmetadata expiry (earliest across shards):\n", t.Client.Repo(), st.Shards)
			for _, x := range st.Expiries {
				who := "admins: 'hallmark admin renew'"
				if x.Online {
					who = "the server renews it"
				}
				note := ""
				if x.InSigningPeriod > 0 {
					note = fmt.Sprintf("  ← due in %d shard(s) (%s)", x.InSigningPeriod, who)
				}
				fmt.Fprintf(w, "  %-10s %s (in %s, shard %s)%s\n", x.Role, x.Earliest.Format(time.DateOnly), explain.Duration(x.Earliest.Sub(now)), x.Shard, note)
			}
			fmt.Fprintf(w, "\nprojects waiting to be claimed: %d\n", st.UnclaimedTotal)
			for i, p := range st.Unclaimed {
				if i == 20 {
					fmt.Fprintf(w, "  … and %d more\n", len(st.Unclaimed)-20)
					break
				}
				fmt.Fprintf(w, "  %s\n", p)
			}
			fmt.Fprintf(w, "owner-change requests: %d\n", len(st.OwnerChanges))
			for _, p := range st.OwnerChanges {
				fmt.Fprintf(w, "  %s\n", p)
			}
			fmt.Fprintf(w, "blocked projects: %d\n", len(st.Blocked))
			for _, b := range st.Blocked {
				fmt.Fprintf(w, "  %s: %s\n", b.Project, b.Reason)
			}
			fmt.Fprintf(w, "\nonline renewal: %s", st.Renewal.HealthyMessage)
			if !st.Renewal.LastRenewal.IsZero() {
				fmt.Fprintf(w, " (last renewal %s)", st.Renewal.LastRenewal.Format(time.RFC3339))
			}
			fmt.Fprintln(w)
			if st.Renewal.LastError != "" {
				fmt.Fprintf(w, "last error: %s at %s\n", st.Renewal.LastError, st.Renewal.LastErrorTime.Format(time.RFC3339))
			}
			if st.UnclaimedTotal+len(st.OwnerChanges) > 0 {
				fmt.Fprintf(w, "\nclaim them with: hallmark admin claim --all --keys DIR\n")
			}
			return nil
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return c
}

func newAdminConfigCmd(e *env) *cobra.Command {
	o := &adminOptions{}
	var sets []string
	c := &cobra.Command{
		Use:   "config [--set KEY=VALUE]... --keys DIR",
		Short: "Show or change the repository's signed settings (expiry, upload limits, registration, reserved names)",
		Long: `Without --set, shows the settings the admins signed (verified). With --set, changes them
in every shard's targets metadata, signed with the targets key. Keys:
  expiry.ROLE.valid, expiry.ROLE.signing   ROLE: root, targets, claimed, new, snapshot, timestamp, project (durations, like 720h)
  max-file-size, max-release-size          bytes, or with KiB, MiB, GiB
  registration                             open, or token (creating a project needs a token from the operator)
  reserved+ NAME, reserved- NAME           reserve a project name, or release it
  allow-confusable+ NAME, allow-confusable- NAME
                                           allow a new project's name although an existing one looks alike, or stop allowing it`,
		Args: exactArgs(0, "admin config [--set KEY=VALUE]... --keys DIR"),
		RunE: func(c *cobra.Command, _ []string) error {
			t, err := adminTool(e)
			if err != nil {
				return err
			}
			if len(sets) == 0 {
				s, err := t.Settings(c.Context())
				if err != nil {
					return err
				}
				if o.asJSON {
					return printJSON(e, s)
				}
				w := e.stdout
				for _, k := range layout.SettingsRoles {
					x := s.Expiry.ForKind(k)
					fmt.Fprintf(w, "expiry.%-10s valid %-10s signing period %s\n", k, x.Valid, x.Signing)
				}
				fmt.Fprintf(w, "max-file-size       %d\nmax-release-size    %d\nregistration        %s\nreserved            %s\nallow-confusable    %s\n",
					s.MaxFileSize, s.MaxReleaseSize, s.Registration, strings.Join(s.Reserved, ", "), strings.Join(s.AllowConfusable, ", "))
				return nil
			}
			keys, err := loadAdminKeys(e, o)
			if err != nil {
				return err
			}
			b, rep, err := t.Config(c.Context(), sets, keys)
			if err != nil {
				return err
			}
			return finishCeremony(c.Context(), e, t, b, rep, o)
		},
	}
	c.Flags().StringArrayVar(&sets, "set", nil, "KEY=VALUE to change (repeatable)")
	o.register(c)
	return c
}
