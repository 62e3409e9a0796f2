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
	return askSecret(e, "HALLMARK_PASSPHRASE", prompt, twice)
}

// askSecret returns the environment variable v, or asks on the terminal.
// Without a terminal it says which variable to set; it never waits on a
// pipe.
func askSecret(e *env, v, prompt string, twice bool) ([]byte, error) {
	if p := e.getenv(v); p != "" {
		return []byte(p), nil
	}
	what := "a passphrase"
	if v == "HALLMARK_PIN" {
		what = "a PIN"
	}
	tty, err := os.Open("/dev/tty")
	if err != nil {
		return nil, withHint(fmt.Errorf("%s is needed but there is no terminal to ask", what), "set "+v)
	}
	defer tty.Close()
	fmt.Fprintf(e.stderr, "%s: ", prompt)
	p, err := term.ReadPassword(int(tty.Fd()))
	fmt.Fprintln(e.stderr)
	if err != nil {
		return nil, withHint(fmt.Errorf("cannot read %s from the terminal: %w", what, err), "set "+v)
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

// secrets asks for passphrases and token PINs: from HALLMARK_PASSPHRASE
// and HALLMARK_PIN, or on the terminal.
func secrets(e *env, what string) signing.Secrets {
	return signing.Secrets{
		Passphrase: func(name string) ([]byte, error) {
			return passphrase(e, "passphrase for "+what+" "+name, false)
		},
		PIN: func(name string) ([]byte, error) {
			return askSecret(e, "HALLMARK_PIN", "PIN of the token holding "+what+" "+name, false)
		},
	}
}

// envSecrets takes secrets from the environment only: a key given in the
// environment is used by automation (CI), where nobody answers a prompt.
func envSecrets(e *env, source string) signing.Secrets {
	get := func(v string) func(string) ([]byte, error) {
		return func(string) ([]byte, error) {
			if p := e.getenv(v); p != "" {
				return []byte(p), nil
			}
			if v == "HALLMARK_PIN" {
				return nil, withHint(fmt.Errorf("%s names a token key but %s is not set", source, v), "set "+v+" to the token's PIN")
			}
			return nil, withHint(fmt.Errorf("%s holds an encrypted key but %s is not set", source, v), "store the passphrase 'hallmark key generate --for-ci' printed as a secret named "+v+" next to "+source)
		}
	}
	return signing.Secrets{Passphrase: get("HALLMARK_PASSPHRASE"), PIN: get("HALLMARK_PIN")}
}

// envKey returns the key given in the environment: HALLMARK_KEY (the key,
// as 'hallmark key generate --for-ci' prints it) or HALLMARK_KEY_FILE (a
// path to a key file). ok is false when neither is set.
func envKey(e *env) (k *signing.Key, ok bool, err error) {
	inline, path := e.getenv("HALLMARK_KEY"), e.getenv("HALLMARK_KEY_FILE")
	switch {
	case inline != "" && path != "":
		return nil, true, withHint(errors.New("both HALLMARK_KEY and HALLMARK_KEY_FILE are set"), "set only one of them")
	case inline != "":
		data, err := signing.DecodeEnvKey(inline)
		if err != nil {
			return nil, true, withHint(fmt.Errorf("HALLMARK_KEY: %w", err), "set it to the HALLMARK_KEY value 'hallmark key generate --for-ci' printed")
		}
		k, err := signing.Open(data, "from HALLMARK_KEY", envSecrets(e, "HALLMARK_KEY"))
		return k, true, err
	case path != "":
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, true, withHint(fmt.Errorf("HALLMARK_KEY_FILE: %w", err), "point it at a key file")
		}
		k, err := signing.Open(data, "from HALLMARK_KEY_FILE", envSecrets(e, "HALLMARK_KEY_FILE"))
		return k, true, err
	}
	return nil, false, nil
}

// loadKey opens a named key, asking for its passphrase or PIN if it has
// one. Without a name it takes the key in HALLMARK_KEY or
// HALLMARK_KEY_FILE, else the only key of the keyring.
func loadKey(e *env, name string) (*signing.Key, error) {
	if name == "" {
		if k, ok, err := envKey(e); ok {
			return k, err
		}
	}
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
			return nil, withHint(errors.New("you have no signing key"), "create one with 'hallmark key generate NAME', or set HALLMARK_KEY")
		case 1:
			name = names[0]
		default:
			return nil, withHint(fmt.Errorf("you have %d keys; which one should sign?", len(names)), "pass --key NAME (one of: "+strings.Join(names, ", ")+")")
		}
	}
	k, err := kr.Open(name, secrets(e, "key"))
	switch {
	case errors.Is(err, signing.ErrNoKey):
		return nil, withHint(err, "list your keys with 'hallmark key list'")
	case errors.Is(err, signing.ErrWrongPassphrase):
		return nil, withHint(err, "check HALLMARK_PASSPHRASE or type it again")
	case errors.Is(err, signing.ErrWrongPIN):
		return nil, withHint(err, "check HALLMARK_PIN or type it again; tokens lock after a few wrong PINs")
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
