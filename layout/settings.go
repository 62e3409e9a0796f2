package layout

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Settings is the repository's policy as its admins sign it, in every
// shard's top-level targets: expiry periods, upload limits, how projects
// are registered, and names no project may take. Tools and the server read
// it from verified metadata, so they agree on it.
type Settings struct {
	Expiry Policy
	// MaxFileSize and MaxReleaseSize bound uploads, in bytes.
	MaxFileSize    int64
	MaxReleaseSize int64
	// Registration is RegistrationOpen or RegistrationToken.
	Registration string
	// Reserved are normalized names no new project may take, beyond the
	// built-in reserved words.
	Reserved []string
	// AllowConfusable are normalized names a new project may take although
	// an existing project has the same Skeleton (the admins judged them
	// distinct), sorted.
	AllowConfusable []string
}

// Registration modes.
const (
	RegistrationOpen  = "open"  // anyone may create a project
	RegistrationToken = "token" // creating a project needs a token from the operator
)

// DefaultSettings are the settings of a new repository.
func DefaultSettings() Settings {
	return Settings{Expiry: DefaultPolicy(), MaxFileSize: 1 << 30, MaxReleaseSize: 4 << 30, Registration: RegistrationOpen, Reserved: []string{}}
}

// settingsJSON is the signed form of Settings.
type settingsJSON struct {
	Expiry         map[string]expiryJSON `json:"expiry"`
	MaxFileSize    int64                 `json:"max_file_size"`
	MaxReleaseSize int64                 `json:"max_release_size"`
	Registration   string                `json:"registration"`
	Reserved       []string              `json:"reserved"`
	// AllowConfusable is omitted when empty, so settings that use none
	// keep the form every earlier tool signed and reads.
	AllowConfusable []string `json:"allow_confusable,omitempty"`
}

type expiryJSON struct {
	Valid   string `json:"valid"`
	Signing string `json:"signing"`
}

// SettingsRoles are the role kinds whose expiry the settings fix, in order.
var SettingsRoles = []string{"root", "targets", "claimed", "new", "snapshot", "timestamp", "project"}

func (p *Policy) field(kind string) *Expiry {
	switch kind {
	case "root":
		return &p.Root
	case "targets":
		return &p.Targets
	case "claimed":
		return &p.Claimed
	case "new":
		return &p.New
	case "snapshot":
		return &p.Snapshot
	case "timestamp":
		return &p.Timestamp
	case "project":
		return &p.Project
	}
	return nil
}

// MarshalJSON encodes the settings in their signed form.
func (s Settings) MarshalJSON() ([]byte, error) {
	j := settingsJSON{Expiry: map[string]expiryJSON{}, MaxFileSize: s.MaxFileSize, MaxReleaseSize: s.MaxReleaseSize, Registration: s.Registration, Reserved: s.Reserved, AllowConfusable: s.AllowConfusable}
	if j.Reserved == nil {
		j.Reserved = []string{}
	}
	for _, k := range SettingsRoles {
		e := s.Expiry.field(k)
		j.Expiry[k] = expiryJSON{Valid: e.Valid.String(), Signing: e.Signing.String()}
	}
	return json.Marshal(j)
}

// ParseSettings decodes and checks settings strictly.
func ParseSettings(b []byte) (Settings, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var j settingsJSON
	if err := dec.Decode(&j); err != nil {
		return Settings{}, fmt.Errorf("repository settings are malformed: %w", err)
	}
	s := Settings{MaxFileSize: j.MaxFileSize, MaxReleaseSize: j.MaxReleaseSize, Registration: j.Registration, Reserved: j.Reserved, AllowConfusable: j.AllowConfusable}
	for _, k := range SettingsRoles {
		e, ok := j.Expiry[k]
		if !ok {
			return Settings{}, fmt.Errorf("repository settings: no expiry for %s", k)
		}
		v, err1 := time.ParseDuration(e.Valid)
		g, err2 := time.ParseDuration(e.Signing)
		if err1 != nil || err2 != nil {
			return Settings{}, fmt.Errorf("repository settings: expiry of %s is not a duration", k)
		}
		*s.Expiry.field(k) = Expiry{Valid: v, Signing: g}
	}
	if len(j.Expiry) != len(SettingsRoles) {
		return Settings{}, fmt.Errorf("repository settings: unknown role kind in expiry")
	}
	return s, s.Check()
}

// Check returns an error unless the settings are sane: every signing period
// shorter than its validity, limits positive, a known registration mode,
// normalized reserved names.
func (s Settings) Check() error {
	for _, k := range SettingsRoles {
		e := s.Expiry.field(k)
		if e.Valid < time.Hour || e.Signing <= 0 || e.Signing >= e.Valid {
			return fmt.Errorf("expiry of %s: validity %s must be at least 1h and longer than its signing period %s (> 0)", k, e.Valid, e.Signing)
		}
	}
	if s.Expiry.Timestamp.Valid > s.Expiry.Snapshot.Valid {
		return fmt.Errorf("the timestamp must not outlive the snapshot it points to")
	}
	if s.MaxFileSize <= 0 || s.MaxReleaseSize < s.MaxFileSize {
		return fmt.Errorf("max_file_size must be positive and max_release_size at least max_file_size")
	}
	if s.Registration != RegistrationOpen && s.Registration != RegistrationToken {
		return fmt.Errorf("registration must be %q or %q", RegistrationOpen, RegistrationToken)
	}
	for _, r := range s.Reserved {
		if !validName(r) || Normalize(r) != r {
			return fmt.Errorf("reserved name %q is not a normalized project name", r)
		}
	}
	if !slices.IsSorted(s.Reserved) {
		return fmt.Errorf("reserved names must be sorted")
	}
	for _, r := range s.AllowConfusable {
		if !validName(r) || Normalize(r) != r {
			return fmt.Errorf("allowed confusable name %q is not a normalized project name", r)
		}
	}
	if !slices.IsSorted(s.AllowConfusable) {
		return fmt.Errorf("allowed confusable names must be sorted")
	}
	return nil
}

// AllowsConfusable reports whether the admins allow a new project named
// name (normalized) although an existing project looks alike.
func (s Settings) AllowsConfusable(name string) bool {
	_, ok := slices.BinarySearch(s.AllowConfusable, name)
	return ok
}

// IsReserved reports whether a normalized name is reserved by the settings.
func (s Settings) IsReserved(name string) bool {
	_, ok := slices.BinarySearch(s.Reserved, name)
	return ok
}

// Set changes one setting from its command-line form (call Check after the
// last one): "expiry.ROLE.valid",
// "expiry.ROLE.signing" (durations like 720h), "max-file-size",
// "max-release-size" (bytes, or with a KiB/MiB/GiB suffix), "registration"
// (open or token), "reserved+" and "reserved-" (a project name),
// "allow-confusable+" and "allow-confusable-" (a project name).
func (s *Settings) Set(key, value string) error {
	switch {
	case strings.HasPrefix(key, "expiry."):
		parts := strings.Split(key, ".")
		if len(parts) != 3 || s.Expiry.field(parts[1]) == nil || (parts[2] != "valid" && parts[2] != "signing") {
			return fmt.Errorf("unknown setting %q: use expiry.ROLE.valid or expiry.ROLE.signing, ROLE one of %s", key, strings.Join(SettingsRoles, ", "))
		}
		d, err := time.ParseDuration(value)
		if err != nil {
			return fmt.Errorf("%s: %q is not a duration (like 720h)", key, value)
		}
		e := s.Expiry.field(parts[1])
		if parts[2] == "valid" {
			e.Valid = d
		} else {
			e.Signing = d
		}
	case key == "max-file-size" || key == "max-release-size":
		n, err := parseSize(value)
		if err != nil {
			return fmt.Errorf("%s: %w", key, err)
		}
		if key == "max-file-size" {
			s.MaxFileSize = n
		} else {
			s.MaxReleaseSize = n
		}
	case key == "registration":
		s.Registration = value
	case key == "reserved+" || key == "reserved-":
		n, err := ParseProjectName(value)
		if err != nil {
			return err
		}
		s.Reserved = slices.DeleteFunc(slices.Clone(s.Reserved), func(r string) bool { return r == n })
		if key == "reserved+" {
			s.Reserved = append(s.Reserved, n)
			slices.Sort(s.Reserved)
		}
	case key == "allow-confusable+" || key == "allow-confusable-":
		n, err := ParseProjectName(value)
		if err != nil {
			return err
		}
		s.AllowConfusable = slices.DeleteFunc(slices.Clone(s.AllowConfusable), func(r string) bool { return r == n })
		if key == "allow-confusable+" {
			s.AllowConfusable = append(s.AllowConfusable, n)
			slices.Sort(s.AllowConfusable)
		}
	default:
		return fmt.Errorf("unknown setting %q: use expiry.ROLE.valid, expiry.ROLE.signing, max-file-size, max-release-size, registration, reserved+, reserved-, allow-confusable+ or allow-confusable-", key)
	}
	return nil
}

func parseSize(v string) (int64, error) {
	mult := int64(1)
	for _, u := range []struct {
		suffix string
		m      int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}} {
		if n, ok := strings.CutSuffix(v, u.suffix); ok {
			v, mult = n, u.m
			break
		}
	}
	n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("%q is not a positive size (bytes, or with KiB, MiB or GiB)", v)
	}
	return n * mult, nil
}

// ForKind returns the expiry rule of a role kind as SettingsRoles names it.
func (p Policy) ForKind(kind string) Expiry {
	if e := p.field(kind); e != nil {
		return *e
	}
	return Expiry{}
}
