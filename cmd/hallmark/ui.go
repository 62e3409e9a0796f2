package main

// CLI wording: errors go to stderr as "hallmark: <what went wrong>" in lower
// case without a trailing period, followed by a line saying what to do.
// Data goes to stdout; status and progress go to stderr.

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"golang.org/x/term"

	"hallmark.dev/hallmark/explain"
	"hallmark.dev/hallmark/signing"
)

// isTerminal reports whether w is an interactive terminal.
func isTerminal(w any) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// confirm asks a yes/no question on the terminal.
func confirm(e *env, question string) (bool, error) {
	if !isTerminal(e.stdin) {
		return false, withHint(errors.New("confirmation needed but standard input is not a terminal"), "run it in a terminal, or pass --yes to accept what is shown")
	}
	fmt.Fprintf(e.stderr, "%s [y/N] ", question)
	line, err := bufio.NewReader(e.stdin).ReadString('\n')
	if err != nil && line == "" {
		return false, err
	}
	a := strings.ToLower(strings.TrimSpace(line))
	return a == "y" || a == "yes", nil
}

// passphrase returns HALLMARK_PASSPHRASE, or asks on the terminal.
func passphrase(e *env, prompt string, twice bool) ([]byte, error) {
	if p := e.getenv("HALLMARK_PASSPHRASE"); p != "" {
		return []byte(p), nil
	}
	tty, err := os.Open("/dev/tty")
	if err != nil {
		return nil, withHint(errors.New("a passphrase is needed but there is no terminal to ask"), "set HALLMARK_PASSPHRASE")
	}
	defer tty.Close()
	fmt.Fprintf(e.stderr, "%s: ", prompt)
	p, err := term.ReadPassword(int(tty.Fd()))
	fmt.Fprintln(e.stderr)
	if err != nil {
		return nil, err
	}
	if twice {
		fmt.Fprint(e.stderr, "repeat it: ")
		again, err := term.ReadPassword(int(tty.Fd()))
		fmt.Fprintln(e.stderr)
		if err != nil {
			return nil, err
		}
		if string(again) != string(p) {
			return nil, errors.New("the passphrases differ")
		}
	}
	return p, nil
}

// loadKey opens a named key, asking for its passphrase if it has one.
func loadKey(e *env, name string) (*signing.Key, error) {
	home, err := e.home()
	if err != nil {
		return nil, err
	}
	kr := keyring(home)
	if name == "" {
		names, err := kr.Names()
		if err != nil {
			return nil, err
		}
		switch len(names) {
		case 0:
			return nil, withHint(errors.New("you have no signing key"), "create one with 'hallmark key generate NAME'")
		case 1:
			name = names[0]
		default:
			return nil, withHint(fmt.Errorf("you have %d keys; which one should sign?", len(names)), "pass --key NAME (one of: "+strings.Join(names, ", ")+")")
		}
	}
	raw, err := kr.Raw(name)
	if errors.Is(err, signing.ErrNoKey) {
		return nil, withHint(err, "list your keys with 'hallmark key list'")
	}
	if err != nil {
		return nil, err
	}
	var pass []byte
	if signing.IsEncrypted(raw) {
		if pass, err = passphrase(e, "passphrase for key "+name, false); err != nil {
			return nil, err
		}
	}
	k, err := signing.ParseKey(raw, pass)
	if errors.Is(err, signing.ErrWrongPassphrase) {
		return nil, withHint(fmt.Errorf("wrong passphrase for key %s", name), "check HALLMARK_PASSPHRASE or type it again")
	}
	return k, err
}

func keyring(home string) signing.Keyring { return signing.Keyring{Dir: home + "/keys"} }

// progressBar draws progress on a terminal, throttled; silent elsewhere.
type progressBar struct {
	w     io.Writer
	label string
	on    bool
	last  time.Time
}

func newProgress(e *env, label string) *progressBar {
	return &progressBar{w: e.stderr, label: label, on: isTerminal(e.stderr)}
}

func (p *progressBar) update(done, total int64) {
	if !p.on || (time.Since(p.last) < 100*time.Millisecond && done < total) {
		return
	}
	p.last = time.Now()
	pct := 100.0
	if total > 0 {
		pct = float64(done) * 100 / float64(total)
	}
	width := 30
	fill := int(pct / 100 * float64(width))
	fmt.Fprintf(p.w, "\r%-28.28s [%s%s] %5.1f%% %s/%s", p.label, strings.Repeat("=", fill), strings.Repeat(" ", width-fill), pct, explain.Size(done), explain.Size(total))
}

func (p *progressBar) done() {
	if p.on {
		fmt.Fprint(p.w, "\r\033[K")
	}
}
