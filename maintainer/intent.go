package maintainer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"hallmark.dev/hallmark/layout"
	"hallmark.dev/hallmark/signing"
)

// Intent is what a maintainer asked for, in the terms of the command that
// made a plan ("add release 1.2.0 with these files"), not the metadata it
// produced. A change that was superseded while it waited for signatures can
// be planned again from its intent on top of the new state, and signed
// again: see Resign.
type Intent struct {
	Op      string   `json:"op"` // one of the Op constants
	Project string   `json:"project"`
	Version string   `json:"version,omitempty"`
	Files   []string `json:"files,omitempty"` // absolute paths of release files
	File    string   `json:"file,omitempty"`  // a file to remove
	Reason  string   `json:"reason,omitempty"`
	Add     []string `json:"add,omitempty"` // public keys, one-line form
	Remove  []string `json:"remove,omitempty"`
	// Meta updates what the project says about itself with a release.
	Meta *MetaUpdate `json:"meta,omitempty"`
	// Releases and Owners are thresholds (0: unchanged).
	Releases int `json:"releases,omitempty"`
	Owners   int `json:"owners,omitempty"`
}

// Intent operations.
const (
	OpRelease     = "release"
	OpYank        = "yank"
	OpUnyank      = "unyank"
	OpRemoveFile  = "remove-file"
	OpRenew       = "renew"
	OpMaintainers = "maintainers"
	OpOwners      = "owners"
	OpThresholds  = "thresholds"
)

// Replan builds the intent's plan again on the project's current verified
// state.
func (t *Tool) Replan(ctx context.Context, in Intent) (*Plan, error) {
	keys := func() ([]signing.PublicKey, error) {
		var out []signing.PublicKey
		for _, s := range in.Add {
			k, err := signing.ParsePublicKey(s)
			if err != nil {
				return nil, err
			}
			out = append(out, k)
		}
		return out, nil
	}
	switch in.Op {
	case OpRelease:
		return t.PlanReleaseWith(ctx, in.Project, in.Version, in.Files, in.Meta)
	case OpYank, OpUnyank:
		return t.PlanYank(ctx, in.Project, in.Version, in.Reason, in.Op == OpYank)
	case OpRemoveFile:
		return t.PlanRemoveFile(ctx, in.Project, in.Version, in.File)
	case OpRenew:
		return t.PlanRenew(ctx, in.Project)
	case OpMaintainers, OpOwners:
		add, err := keys()
		if err != nil {
			return nil, err
		}
		if in.Op == OpOwners {
			return t.PlanOwners(ctx, in.Project, add, in.Remove)
		}
		return t.PlanMaintainers(ctx, in.Project, add, in.Remove)
	case OpThresholds:
		return t.PlanThresholds(ctx, in.Project, in.Releases, in.Owners)
	}
	return nil, fmt.Errorf("unknown change %q", in.Op)
}

// ErrNoIntent is returned by LoadIntent for a change this machine did not
// make (or whose record was removed).
var ErrNoIntent = errors.New("this machine has no record of that change")

// intentPath is where the intent of a pending change is kept under a
// user's home.
func intentPath(home, project, id string) (string, error) {
	if !layout.IsNormalizedProject(project) || id == "" || filepath.Base(id) != id || id[0] == '.' {
		return "", fmt.Errorf("bad pending change %q of %q", id, project)
	}
	return filepath.Join(home, "pending", project, id+".json"), nil
}

// SaveIntent records the intent of a change that went pending as id, so
// that its author can sign it again if it is superseded.
func SaveIntent(home, id string, in Intent) error {
	path, err := intentPath(home, in.Project, id)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	b, err := json.MarshalIndent(in, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o600)
}

// LoadIntent reads the recorded intent of pending change id of project.
func LoadIntent(home, project, id string) (Intent, error) {
	path, err := intentPath(home, project, id)
	if err != nil {
		return Intent{}, err
	}
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return Intent{}, ErrNoIntent
	}
	if err != nil {
		return Intent{}, err
	}
	var in Intent
	if err := json.Unmarshal(b, &in); err != nil {
		return Intent{}, fmt.Errorf("the record of change %s is malformed: %w", id, err)
	}
	if in.Project != project {
		return Intent{}, fmt.Errorf("the record of change %s is for project %s", id, in.Project)
	}
	return in, nil
}

// HasIntent reports whether this machine recorded the intent of a change.
func HasIntent(home, project, id string) bool {
	_, err := LoadIntent(home, project, id)
	return err == nil
}
