package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"hallmark.dev/hallmark/api"
	"hallmark.dev/hallmark/explain"
	"hallmark.dev/hallmark/layout"
	"hallmark.dev/hallmark/maintainer"
	"hallmark.dev/hallmark/signing"
)

// signOptions are the flags every signing command shares.
type signOptions struct {
	key    string
	yes    bool
	asJSON bool
}

func (o *signOptions) register(c *cobra.Command, confirmable bool) {
	c.Flags().StringVar(&o.key, "key", "", "the key that signs (optional if you have one key)")
	if confirmable {
		c.Flags().BoolVar(&o.yes, "yes", false, "sign without asking for confirmation")
	}
	c.Flags().BoolVar(&o.asJSON, "json", false, "print the result as JSON")
}

// planFunc builds a plan from verified state.
type planFunc func(ctx context.Context, t *maintainer.Tool) (*maintainer.Plan, error)

// runPlan is the shape of every signing command: learn the verified state,
// build the change, explain it, ask (unless --yes or not confirmable), sign,
// submit, and say what happened.
func runPlan(ctx context.Context, e *env, o *signOptions, confirmable bool, project string, build planFunc) error {
	cl, err := openClient(e)
	if err != nil {
		return err
	}
	key, err := loadKey(e, o.key)
	if err != nil {
		return err
	}
	t := &maintainer.Tool{Client: cl}
	plan, err := build(ctx, t)
	if err != nil {
		return explainRead(err, project)
	}
	fmt.Fprintf(e.stderr, "%s: this change will\n", plan.Project)
	for _, l := range plan.Lines {
		fmt.Fprintf(e.stderr, "  - %s\n", l)
	}
	warnSuperseding(ctx, e, t, plan, "")
	if confirmable && !o.yes {
		ok, err := confirm(e, fmt.Sprintf("Sign it with key %s (%s)?", key.Public().ShortID(), key.Label()))
		if err != nil {
			return err
		}
		if !ok {
			return errors.New("nothing was signed")
		}
	}
	bar := newProgress(e, "uploading "+plan.Project)
	out, err := t.Submit(ctx, plan, key, bar.update)
	bar.done()
	if err != nil {
		return explainWrite(err)
	}
	if out.Status == api.StatusPending && plan.Intent.Op != "" {
		// Kept so that, if another change supersedes this one while it
		// waits, 'hallmark pending resign' can make it again.
		if home, err := e.home(); err == nil {
			if err := maintainer.SaveIntent(home, out.PendingID, plan.Intent); err != nil {
				fmt.Fprintf(e.stderr, "warning: failed to record the change for 'hallmark pending resign': %v\n", err)
			}
		}
	}
	return reportOutcome(e, o, plan.Project, plan.Lines, out)
}

// warnSuperseding says, before signing, which pending changes the plan
// supersedes once published (except the one being approved, self).
func warnSuperseding(ctx context.Context, e *env, t *maintainer.Tool, plan *maintainer.Plan, self string) {
	list, err := t.WouldSupersede(ctx, plan)
	if err != nil {
		fmt.Fprintf(e.stderr, "warning: could not list the other pending changes of %s: %v\n", plan.Project, err)
		return
	}
	list = slices.DeleteFunc(list, func(s maintainer.Superseding) bool { return s.ID == self })
	if len(list) == 0 {
		return
	}
	fmt.Fprintf(e.stderr, "once published, it supersedes %d pending change(s), which can then never apply (they stay listed as superseded; their authors can sign them again on top of it with 'hallmark pending resign %s ID'):\n", len(list), plan.Project)
	for _, x := range list {
		if x.Reason != nil {
			fmt.Fprintf(e.stderr, "  - %s (not verified: %v)\n", x.ID, x.Reason)
			continue
		}
		fmt.Fprintf(e.stderr, "  - %s: %s\n", x.ID, strings.Join(x.Lines, "; "))
	}
}

func reportOutcome(e *env, o *signOptions, project string, lines []string, out *maintainer.Outcome) error {
	if o.asJSON {
		return printJSON(e, map[string]any{"project": project, "status": out.Status, "changes": lines,
			"pending_id": out.PendingID, "signatures_valid": out.SignaturesValid, "threshold": out.Threshold, "snapshot_version": out.SnapshotVersion, "waiting": out.Waiting})
	}
	if out.Status == api.StatusPending {
		fmt.Fprintf(e.stderr, "signed; the change waits for more signatures (%d of %d on the role that needs most)\nother maintainers approve it with: hallmark approve %s %s\n", out.SignaturesValid, out.Threshold, project, out.PendingID)
		return nil
	}
	if out.Waiting != "" {
		fmt.Fprintf(e.stderr, "published, but downloaders will see it only once the repository's witnesses co-sign it (the server retries by itself): %s\n", out.Waiting)
		return nil
	}
	fmt.Fprintf(e.stderr, "published\n")
	return nil
}

// readPublicKey accepts the one-line public key form or a file holding it.
func readPublicKey(arg string) (signing.PublicKey, error) {
	if pk, err := signing.ParsePublicKey(arg); err == nil {
		return pk, nil
	}
	data, err := os.ReadFile(arg)
	if err != nil {
		return signing.PublicKey{}, withHint(fmt.Errorf("%q is neither a public key nor a readable file", arg), "pass what 'hallmark key export NAME' prints, or a file holding it")
	}
	pk, err := signing.ParsePublicKey(string(data))
	if err != nil {
		return signing.PublicKey{}, withHint(fmt.Errorf("%s: %w", arg, err), "pass what 'hallmark key export NAME' prints")
	}
	return pk, nil
}

func newMemberCmd(e *env, what string) *cobra.Command {
	c := &cobra.Command{Use: what, Short: "Add or remove a project's " + what + "s"}
	plan := func(t *maintainer.Tool, ctx context.Context, project string, add []signing.PublicKey, remove []string) (*maintainer.Plan, error) {
		if what == "owner" {
			return t.PlanOwners(ctx, project, add, remove)
		}
		return t.PlanMaintainers(ctx, project, add, remove)
	}
	o := &signOptions{}
	add := &cobra.Command{
		Use:   "add PROJECT PUBKEY",
		Short: "Add a " + what + " (PUBKEY: what 'hallmark key export' prints, or a file holding it)",
		Args:  exactArgs(2, what+" add PROJECT PUBKEY"),
		RunE: func(c *cobra.Command, args []string) error {
			pk, err := readPublicKey(args[1])
			if err != nil {
				return err
			}
			return runPlan(c.Context(), e, o, true, args[0], func(ctx context.Context, t *maintainer.Tool) (*maintainer.Plan, error) {
				return plan(t, ctx, args[0], []signing.PublicKey{pk}, nil)
			})
		},
	}
	o.register(add, true)
	ro := &signOptions{}
	remove := &cobra.Command{
		Use:   "remove PROJECT KEYID|LABEL",
		Short: "Remove a " + what,
		Args:  exactArgs(2, what+" remove PROJECT KEYID|LABEL"),
		RunE: func(c *cobra.Command, args []string) error {
			return runPlan(c.Context(), e, ro, true, args[0], func(ctx context.Context, t *maintainer.Tool) (*maintainer.Plan, error) {
				return plan(t, ctx, args[0], nil, []string{args[1]})
			})
		},
	}
	ro.register(remove, true)
	c.AddCommand(add, remove)
	return c
}

func newThresholdCmd(e *env) *cobra.Command {
	o := &signOptions{}
	var releases, owners int
	c := &cobra.Command{
		Use:   "threshold PROJECT --releases N [--owners N]",
		Short: "Set how many maintainers must sign a release (and owners an owners change)",
		Args:  exactArgs(1, "project threshold PROJECT --releases N [--owners N]"),
		RunE: func(c *cobra.Command, args []string) error {
			for _, f := range []struct {
				name string
				n    int
			}{{"releases", releases}, {"owners", owners}} {
				if c.Flags().Changed(f.name) && f.n < 1 {
					return &usageError{msg: fmt.Sprintf("--%s %d: a threshold is how many must sign, at least 1", f.name, f.n), hint: "pass --" + f.name + " N with N between 1 and the number of keys"}
				}
			}
			if releases == 0 && owners == 0 {
				return &usageError{msg: "nothing to change", hint: "pass --releases N and/or --owners N"}
			}
			return runPlan(c.Context(), e, o, true, args[0], func(ctx context.Context, t *maintainer.Tool) (*maintainer.Plan, error) {
				return t.PlanThresholds(ctx, args[0], releases, owners)
			})
		},
	}
	c.Flags().IntVar(&releases, "releases", 0, "signatures of maintainers needed to change releases")
	c.Flags().IntVar(&owners, "owners", 0, "signatures of owners needed to change owners and maintainers")
	o.register(c, true)
	return c
}

func newRenewCmd(e *env) *cobra.Command {
	o := &signOptions{}
	c := &cobra.Command{
		Use:   "renew PROJECT",
		Short: "Re-sign the project's metadata before it expires",
		Args:  exactArgs(1, "project renew PROJECT"),
		RunE: func(c *cobra.Command, args []string) error {
			return runPlan(c.Context(), e, o, true, args[0], func(ctx context.Context, t *maintainer.Tool) (*maintainer.Plan, error) {
				return t.PlanRenew(ctx, args[0])
			})
		},
	}
	o.register(c, true)
	return c
}

func newYankCmd(e *env, yank bool) *cobra.Command {
	o := &signOptions{}
	var reason string
	use, short := "unyank PROJECT VERSION", "Make a yanked release eligible as latest again"
	if yank {
		use, short = "yank PROJECT VERSION --reason TEXT", "Yank a release: never chosen as latest, still installable by exact version"
	}
	c := &cobra.Command{
		Use:   use,
		Short: short,
		Args:  exactArgs(2, "release "+use),
		RunE: func(c *cobra.Command, args []string) error {
			if yank && strings.TrimSpace(reason) == "" {
				return &usageError{msg: "a yank needs a reason that downloaders will see", hint: "pass --reason TEXT"}
			}
			return runPlan(c.Context(), e, o, true, args[0], func(ctx context.Context, t *maintainer.Tool) (*maintainer.Plan, error) {
				return t.PlanYank(ctx, args[0], args[1], reason, yank)
			})
		},
	}
	if yank {
		c.Flags().StringVar(&reason, "reason", "", "why the release is yanked (shown to downloaders)")
	}
	o.register(c, true)
	return c
}

func newFileCmd(e *env) *cobra.Command {
	c := &cobra.Command{Use: "file", Short: "Manage release files"}
	o := &signOptions{}
	rm := &cobra.Command{
		Use:   "remove PROJECT VERSION FILE",
		Short: "Stop serving and trusting a file; its name can never return with other content",
		Args:  exactArgs(3, "file remove PROJECT VERSION FILE"),
		RunE: func(c *cobra.Command, args []string) error {
			return runPlan(c.Context(), e, o, true, args[0], func(ctx context.Context, t *maintainer.Tool) (*maintainer.Plan, error) {
				return t.PlanRemoveFile(ctx, args[0], args[1], args[2])
			})
		},
	}
	o.register(rm, true)
	c.AddCommand(rm)
	return c
}

func newPendingCmd(e *env) *cobra.Command {
	var asJSON, all bool
	c := &cobra.Command{
		Use:   "pending [PROJECT]",
		Short: "List changes that await your signature",
		Long: `List pending changes that one of your keys can sign (with --all, every pending change).
Each is verified first: its signatures must be genuine and it must build on the
current verified state. Changes that fail are reported, never offered for signing.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			project := ""
			if len(args) == 1 {
				project = args[0]
			}
			cl, err := openClient(e)
			if err != nil {
				return err
			}
			mine, err := myKeys(e)
			if err != nil {
				return err
			}
			t := &maintainer.Tool{Client: cl}
			list, refused, err := t.ListPending(c.Context(), project)
			if err != nil {
				return explainRead(err, project)
			}
			type row struct {
				ID      string    `json:"id"`
				Project string    `json:"project"`
				Changes []string  `json:"changes"`
				Signers []string  `json:"signed_by"`
				Names   []string  `json:"signed_by_names"`
				Expires time.Time `json:"expires"`
				Yours   []string  `json:"your_keys_can_sign"`
				// Superseded changes can never apply; MadeHere says this
				// machine made it ('hallmark pending resign').
				Superseded bool `json:"superseded,omitempty"`
				MadeHere   bool `json:"made_here,omitempty"`
			}
			rows := []row{}
			for _, p := range list {
				r := row{ID: p.ID, Project: p.Project, Changes: p.Lines, Signers: p.Signers, Names: p.SignedBy, Expires: p.Expires, Yours: []string{}}
				for name, pk := range mine {
					if p.MaySign(pk) {
						r.Yours = append(r.Yours, name)
					}
				}
				if all || len(r.Yours) > 0 {
					rows = append(rows, r)
				}
			}
			home, _ := e.home()
			var superseded []row
			// Changes that cannot be signed are reported on stderr; stdout
			// lists what may be signed. Superseded ones say so, and their
			// author (this machine made them) how to make them again.
			for _, r := range refused {
				if !r.Superseded {
					fmt.Fprintf(e.stderr, "warning: pending change %s of %s is not offered: %v\n", r.ID, r.Project, r.Reason)
					continue
				}
				mine := maintainer.HasIntent(home, r.Project, r.ID)
				if !all && !mine {
					continue
				}
				superseded = append(superseded, row{ID: r.ID, Project: r.Project, Expires: r.Expires, Superseded: true, MadeHere: mine,
					Changes: []string{}, Signers: []string{}, Names: []string{}, Yours: []string{}})
				fmt.Fprintf(e.stderr, "warning: pending change %s of %s is not offered: %v; it is superseded (a change published after it changed the same metadata) and kept until %s\n",
					r.ID, r.Project, r.Reason, r.Expires.Format(time.DateOnly))
				if mine {
					fmt.Fprintf(e.stderr, "  you made it; sign it again on top of the new state with: hallmark pending resign %s %s\n", r.Project, r.ID)
				}
			}
			if asJSON {
				return printJSON(e, append(rows, superseded...))
			}
			if len(rows) == 0 {
				fmt.Fprintln(e.stderr, "nothing awaits your signature")
			}
			for _, r := range rows {
				fmt.Fprintf(e.stdout, "%s %s (expires %s)\n", r.Project, r.ID, r.Expires.Format(time.DateOnly))
				for _, l := range r.Changes {
					fmt.Fprintf(e.stdout, "  - %s\n", l)
				}
				fmt.Fprintf(e.stdout, "  signed so far by:\n")
				for _, n := range r.Names {
					fmt.Fprintf(e.stdout, "    %s\n", n)
				}
				if len(r.Yours) > 0 {
					fmt.Fprintf(e.stdout, "  approve with: hallmark approve %s %s --key %s\n", r.Project, r.ID, r.Yours[0])
				}
			}
			return nil
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	c.Flags().BoolVar(&all, "all", false, "list every pending change, not only those your keys can sign, and every superseded one")
	c.AddCommand(newResignCmd(e))
	return c
}

func newResignCmd(e *env) *cobra.Command {
	o := &signOptions{}
	c := &cobra.Command{
		Use:   "resign PROJECT CHANGE",
		Short: "Make and sign again your own superseded change, on top of the new state",
		Long: `A pending change is superseded when another change to the same metadata is published
first: it can never apply. Its author runs this command on the machine that made it: the
change is planned again from what was asked for (the same release files, the same
maintainer, the same threshold...) on top of the current verified state, shown in plain
words and signed like the first time. The superseded change stays listed until it expires.`,
		Args: exactArgs(2, "pending resign PROJECT CHANGE"),
		RunE: func(c *cobra.Command, args []string) error {
			home, err := e.home()
			if err != nil {
				return err
			}
			project, err := layout.ParseProjectName(args[0])
			if err != nil {
				return err
			}
			in, err := maintainer.LoadIntent(home, project, args[1])
			if errors.Is(err, maintainer.ErrNoIntent) {
				return withHint(fmt.Errorf("%s: this machine did not make pending change %s (or lost its record)", project, args[1]), "run the command that made it again")
			}
			if err != nil {
				return err
			}
			cl, err := openClient(e)
			if err != nil {
				return err
			}
			list, _, err := (&maintainer.Tool{Client: cl}).ListPending(c.Context(), project)
			if err != nil {
				return explainRead(err, project)
			}
			if slices.ContainsFunc(list, func(p *maintainer.Pending) bool { return p.ID == args[1] }) {
				return withHint(fmt.Errorf("pending change %s of %s still applies: it is not superseded", args[1], project), "it waits for approval: 'hallmark approve "+project+" "+args[1]+"'")
			}
			fmt.Fprintf(e.stderr, "making superseded change %s of %s again on top of the current state\n", args[1], project)
			return runPlan(c.Context(), e, o, true, project, func(ctx context.Context, t *maintainer.Tool) (*maintainer.Plan, error) {
				return t.Replan(ctx, in)
			})
		},
	}
	o.register(c, true)
	return c
}

// myKeys returns the public halves of the user's keys by name.
func myKeys(e *env) (map[string]signing.PublicKey, error) {
	home, err := e.home()
	if err != nil {
		return nil, err
	}
	kr := keyring(home)
	names, err := kr.Names()
	if err != nil {
		return nil, err
	}
	out := map[string]signing.PublicKey{}
	for _, n := range names {
		if pk, err := kr.Public(n); err == nil {
			out[n] = pk
		}
	}
	return out, nil
}

func newApproveCmd(e *env) *cobra.Command {
	o := &signOptions{}
	c := &cobra.Command{
		Use:   "approve PROJECT [CHANGE]",
		Short: "Verify, explain and co-sign another maintainer's pending change",
		Args:  cobra.RangeArgs(1, 2),
		RunE: func(c *cobra.Command, args []string) error {
			cl, err := openClient(e)
			if err != nil {
				return err
			}
			t := &maintainer.Tool{Client: cl}
			list, refused, err := t.ListPending(c.Context(), args[0])
			if err != nil {
				return explainRead(err, args[0])
			}
			var p *maintainer.Pending
			switch {
			case len(args) == 2:
				for _, x := range list {
					if x.ID == args[1] {
						p = x
					}
				}
				if p == nil {
					for _, r := range refused {
						if r.ID == args[1] && r.Superseded {
							return withHint(fmt.Errorf("refusing to sign pending change %s: %v; it is superseded (a change published after it changed the same metadata); nothing was signed", r.ID, r.Reason),
								"its author can sign it again on top of the new state with 'hallmark pending resign "+args[0]+" "+r.ID+"'")
						}
						if r.ID == args[1] {
							return withHint(fmt.Errorf("refusing to sign pending change %s: %v", r.ID, r.Reason), "nothing was signed")
						}
					}
					return withHint(fmt.Errorf("%s has no pending change %s", args[0], args[1]), "list them with 'hallmark pending "+args[0]+" --all'")
				}
			case len(list) == 1:
				p = list[0]
			case len(list) == 0:
				for _, r := range refused {
					fmt.Fprintf(e.stderr, "warning: pending change %s is not offered: %v\n", r.ID, r.Reason)
				}
				return fmt.Errorf("%s has no pending change to approve", args[0])
			default:
				return withHint(fmt.Errorf("%s has %d pending changes", args[0], len(list)), "name one: see 'hallmark pending "+args[0]+" --all'")
			}
			key, err := loadKey(e, o.key)
			if err != nil {
				return err
			}
			fmt.Fprintf(e.stderr, "%s: pending change %s (signed by %d key(s)) will\n", p.Project, p.ID, len(p.Signers))
			for _, l := range p.Lines {
				fmt.Fprintf(e.stderr, "  - %s\n", l)
			}
			fmt.Fprintf(e.stderr, "signed so far by:\n")
			for _, n := range p.SignedBy {
				fmt.Fprintf(e.stderr, "  %s\n", n)
			}
			warnSuperseding(c.Context(), e, t, p.Plan(), p.ID)
			if !o.yes {
				ok, err := confirm(e, fmt.Sprintf("Approve it with key %s (%s)?", key.Public().ShortID(), key.Label()))
				if err != nil {
					return err
				}
				if !ok {
					return errors.New("nothing was signed")
				}
			}
			out, err := t.Approve(c.Context(), p, key)
			if err != nil {
				return explainWrite(err)
			}
			return reportOutcome(e, o, p.Project, p.Lines, out)
		},
	}
	o.register(c, true)
	return c
}

// expiryWarnings says which verified roles are inside their renewal period.
func expiryWarnings(e *env, project string, pol layout.Policy, roles map[string]time.Time) {
	now := time.Now()
	for role, exp := range roles {
		if pol.NeedsRenewal(role, exp, now) {
			fmt.Fprintf(e.stderr, "warning: the %s metadata of %s expires %s (in %s); renew it with 'hallmark project renew %s'\n",
				role, project, exp.Format(time.DateOnly), explain.Duration(exp.Sub(now)), project)
		}
	}
}
