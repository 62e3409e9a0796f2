package signing

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"unicode/utf8"
)

// Keyring is a directory of named key files ("<name>.key").
type Keyring struct{ Dir string }

var keyNameRe = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// ErrNoKey is returned when a named key does not exist.
var ErrNoKey = errors.New("no such key")

func (r Keyring) path(name string) (string, error) {
	if !keyNameRe.MatchString(name) {
		return "", fmt.Errorf("key name %q is not valid: use letters, digits, '.', '_' and '-'", name)
	}
	return filepath.Join(r.Dir, name+".key"), nil
}

// Create generates a key, stores it encrypted with passphrase, and returns it.
// It refuses to overwrite an existing key.
func (r Keyring) Create(name, label string, passphrase []byte) (*Key, error) {
	if _, err := r.path(name); err != nil {
		return nil, err
	}
	k, err := Generate(label)
	if err != nil {
		return nil, err
	}
	data, err := k.Marshal(passphrase)
	if err != nil {
		return nil, err
	}
	return k, r.write(name, data)
}

// AddToken registers the key that uri names on a PKCS#11 token as name:
// it opens the key with pin, checks that it signs, and stores its public
// half, label and location (never the PIN). The returned key is open; the
// caller closes it.
func (r Keyring) AddToken(name, label, module string, uri TokenURI, pin []byte) (*Key, error) {
	if _, err := r.path(name); err != nil {
		return nil, err
	}
	if _, err := r.Raw(name); err == nil {
		return nil, fmt.Errorf("a key named %s exists already; choose another name", name)
	}
	k, err := OpenToken(module, uri, pin, label)
	if err != nil {
		return nil, err
	}
	if _, err := k.Sign([]byte("hallmark token check")); err != nil {
		k.Close()
		return nil, err
	}
	data, err := MarshalToken(k, module, uri)
	if err == nil {
		err = r.write(name, data)
	}
	if err != nil {
		k.Close()
		return nil, err
	}
	return k, nil
}

// write stores a new key file, refusing to overwrite one.
func (r Keyring) write(name string, data []byte) error {
	path, err := r.path(name)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(r.Dir, 0o700); err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("a key named %s exists already; choose another name", name)
	}
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		os.Remove(path)
		return err
	}
	return f.Close()
}

// Names lists the keys, sorted.
func (r Keyring) Names() ([]string, error) {
	entries, err := os.ReadDir(r.Dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var names []string
	for _, e := range entries {
		if n, ok := strings.CutSuffix(e.Name(), ".key"); ok && !e.IsDir() {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	return names, nil
}

// Raw returns a key file's bytes.
func (r Keyring) Raw(name string) ([]byte, error) {
	path, err := r.path(name)
	if err != nil {
		return nil, err
	}
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s", ErrNoKey, name)
	}
	return data, err
}

// Public returns a key's public half without its passphrase.
func (r Keyring) Public(name string) (PublicKey, error) {
	data, err := r.Raw(name)
	if err != nil {
		return PublicKey{}, err
	}
	return PublicOf(data)
}

// Load opens a key with its passphrase.
func (r Keyring) Load(name string, passphrase []byte) (*Key, error) {
	data, err := r.Raw(name)
	if err != nil {
		return nil, err
	}
	return ParseKey(data, passphrase)
}

// MinPassphraseLength is the shortest passphrase a new key accepts, in
// characters: a stolen key file can be attacked offline, at leisure.
const MinPassphraseLength = 10

// CheckNewPassphrase returns an error unless p is long enough to protect a
// new key file.
func CheckNewPassphrase(p []byte) error {
	if n := utf8.RuneCount(p); n < MinPassphraseLength {
		return fmt.Errorf("the passphrase has %d characters; a key's passphrase needs at least %d (a stolen key file can be guessed at offline)", n, MinPassphraseLength)
	}
	return nil
}
