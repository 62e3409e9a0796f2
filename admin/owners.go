package admin

import (
	"fmt"
	"time"

	"hallmark.dev/hallmark/tufmeta"
)

// OwnerHistory is what a verified chain of owner changes says of the
// owners a project has now.
type OwnerHistory struct {
	// Owners are the current owners, as the chain ends.
	Owners tufmeta.Delegation
	// Labels are the owners' labels, from the newest owners role.
	Labels map[string]string
	// Since is the owners role version that first named the current owners
	// (1: since the project was created).
	Since int64
	// SignedAround estimates when that version was signed: its expiry less
	// the validity a project role gets.
	SignedAround time.Time
}

// VerifyOwnerChain checks that a project's owners are the ones its owners
// put there themselves, from the project's creation: history holds the
// project's owners role by version from 1 (nil where the server has no
// file), the last one verified by the caller through TUF. Version 1 must
// declare the creating owners and be signed by a threshold of them (the
// server checked that all did); every later version must be signed by a
// threshold of the owners in force before it, and a version that declares
// other owners by a threshold of those too. The chain must end with
// current, the owners the project's bin names. An admin's claim locks in
// only owners that pass: the online keys alone cannot forge this chain.
func VerifyOwnerChain(project string, history []*tufmeta.Targets, current tufmeta.Delegation, projectValidity time.Duration) (OwnerHistory, error) {
	if len(history) == 0 || history[0] == nil {
		return OwnerHistory{}, fmt.Errorf("%s: the server has no version 1 of its owners role, which names the owners who created it", project)
	}
	var inForce tufmeta.Delegation
	var out OwnerHistory
	for i, md := range history {
		v := int64(i + 1)
		if md == nil {
			continue // not kept (two changes published together); the next must still verify
		}
		if md.Signed.Version != v {
			return OwnerHistory{}, fmt.Errorf("%s: the server's owners role version %d says it is version %d", project, v, md.Signed.Version)
		}
		declared, ok, err := tufmeta.DeclaredOwners(md)
		if err != nil {
			return OwnerHistory{}, fmt.Errorf("%s: owners role version %d: %w", project, v, err)
		}
		if v == 1 {
			if !ok {
				return OwnerHistory{}, fmt.Errorf("%s: owners role version 1 does not declare the owners who created the project", project)
			}
			if err := tufmeta.Verify(md, declared, fmt.Sprintf("owners role version 1 of %s", project)); err != nil {
				return OwnerHistory{}, fmt.Errorf("%s: its creation is not signed by the owners it names: %w", project, err)
			}
			inForce, out.Since, out.SignedAround = declared, 1, md.Signed.Expires.Add(-projectValidity)
			continue
		}
		if err := tufmeta.Verify(md, inForce, fmt.Sprintf("owners role version %d of %s", v, project)); err != nil {
			return OwnerHistory{}, fmt.Errorf("%s: version %d of its owners role is not signed by the owners in force before it: %w", project, v, err)
		}
		if ok && !tufmeta.SameKeys(declared, inForce) {
			if err := tufmeta.Verify(md, declared, fmt.Sprintf("owners role version %d of %s", v, project)); err != nil {
				return OwnerHistory{}, fmt.Errorf("%s: version %d changes the owners without the new owners' signatures: %w", project, v, err)
			}
			inForce, out.Since, out.SignedAround = declared, v, md.Signed.Expires.Add(-projectValidity)
		}
	}
	if !tufmeta.SameKeys(inForce, current) {
		return OwnerHistory{}, fmt.Errorf("%s: its bin names owner keys %s, but the owners' own signed changes end with %s: the keys in the bin were not put there by the project's owners", project, ids(current), ids(inForce))
	}
	out.Owners = inForce
	last := history[len(history)-1]
	out.Labels = tufmeta.Labels(last)
	return out, nil
}

func ids(d tufmeta.Delegation) string {
	return keyNames(d.KeyIDs) + fmt.Sprintf(" (threshold %d)", d.Threshold)
}

// describe says who the owners are, for the admins who lock them in.
func (h OwnerHistory) describe() string {
	s := ""
	for i, id := range h.Owners.KeyIDs {
		if i > 0 {
			s += ", "
		}
		label := h.Labels[id]
		if label == "" {
			label = "no label"
		}
		s += fmt.Sprintf("%s (%s)", label, id[:8])
	}
	since := "since the project was created"
	if h.Since > 1 {
		since = fmt.Sprintf("since owners role version %d", h.Since)
	}
	return fmt.Sprintf("owners %s, threshold %d, unchanged %s (signed around %s)", s, h.Owners.Threshold, since, h.SignedAround.UTC().Format("2006-01-02"))
}
