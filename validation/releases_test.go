package validation_test

import (
	"crypto/sha512"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/theupdateframework/go-tuf/v2/metadata"

	"hallmark.dev/hallmark/layout"
	"hallmark.dev/hallmark/tufmeta"
	"hallmark.dev/hallmark/validation"
)

// proposal is a proposed releases role with the index bytes uploaded with it.
type proposal struct {
	role  *tufmeta.Targets
	index []byte
}

// upload builds the role a maintainer's tool proposes for releasing 1.1.0
// on top of the published state: version 5, signed by alice.
func upload(t *testing.T) proposal {
	rel, ix := releases(t, 5, src100, whl100, src110)
	return proposal{sign(t, rel, alice), ix}
}

func TestCheckReleases(t *testing.T) {
	tests := []struct {
		desc      string
		threshold int // of the published delegation to the releases role
		propose   func(t *testing.T) proposal
		want      validation.Outcome
		conflict  bool   // the reason is a *validation.Conflict
		reason    string // a word the rejection must contain
	}{
		{
			desc: "a maintainer uploads a new release", threshold: 1,
			propose: upload, want: validation.Accept,
		},
		{
			desc: "the other maintainer uploads a new release", threshold: 1,
			propose: func(t *testing.T) proposal { p := upload(t); sign(t, p.role, bob); return p },
			want:    validation.Accept,
		},
		{
			desc: "a pre-release", threshold: 1,
			propose: func(t *testing.T) proposal {
				rel, ix := releases(t, 5, src100, whl100, rc200)
				return proposal{sign(t, rel, alice), ix}
			},
			want: validation.Accept,
		},
		{
			desc: "a file is removed (its tombstone stays)", threshold: 1,
			propose: func(t *testing.T) proposal {
				rel, ix := releases(t, 5, src100)
				return proposal{sign(t, rel, alice), ix}
			},
			want: validation.Accept,
		},
		{
			desc: "a removed file comes back with the same content", threshold: 1,
			propose: func(t *testing.T) proposal {
				rel, ix := releases(t, 5, src100, whl100, src090)
				return proposal{sign(t, rel, alice), ix}
			},
			want: validation.Accept,
		},
		{
			desc: "two maintainers required, one signed", threshold: 2,
			propose: upload, want: validation.Pending,
		},
		{
			desc: "two maintainers required, both signed", threshold: 2,
			propose: func(t *testing.T) proposal { p := upload(t); sign(t, p.role, alice, bob); return p },
			want:    validation.Accept,
		},
		{
			desc: "built on an older version (another upload got there first)", threshold: 1,
			propose: func(t *testing.T) proposal {
				rel, ix := releases(t, 4, src100, whl100, src110)
				return proposal{sign(t, rel, alice), ix}
			},
			want: validation.Reject, conflict: true,
		},
		{
			desc: "skips a version", threshold: 1,
			propose: func(t *testing.T) proposal {
				rel, ix := releases(t, 7, src100, whl100, src110)
				return proposal{sign(t, rel, alice), ix}
			},
			want: validation.Reject, conflict: true,
		},
		{
			desc: "rollback attack: replays version 1", threshold: 1,
			propose: func(t *testing.T) proposal {
				rel, ix := releases(t, 1, src100)
				return proposal{sign(t, rel, alice), ix}
			},
			want: validation.Reject, conflict: true,
		},
		{
			desc: "freeze attack: already expired", threshold: 1,
			propose: func(t *testing.T) proposal {
				p := upload(t)
				p.role.Signed.Expires = now.Add(-time.Hour)
				sign(t, p.role, alice)
				return p
			},
			want: validation.Reject, reason: "expires",
		},
		{
			desc: "expiry beyond the policy", threshold: 1,
			propose: func(t *testing.T) proposal {
				p := upload(t)
				p.role.Signed.Expires = now.AddDate(5, 0, 0)
				sign(t, p.role, alice)
				return p
			},
			want: validation.Reject, reason: "expires",
		},
		{
			desc: "not targets metadata", threshold: 1,
			propose: func(t *testing.T) proposal {
				p := upload(t)
				p.role.Signed.Type = metadata.ROOT
				sign(t, p.role, alice)
				return p
			},
			want: validation.Reject, reason: "type",
		},
		{
			desc: "namespace attack: a file of another project", threshold: 1,
			propose: func(t *testing.T) proposal {
				p := upload(t)
				p.role.Signed.Targets["other/1.0.0/other-1.0.0.tar.gz"] = targetFile([]byte("x"))
				sign(t, p.role, alice)
				return p
			},
			want: validation.Reject, reason: "outside",
		},
		{
			desc: "namespace attack: another project's index", threshold: 1,
			propose: func(t *testing.T) proposal {
				p := upload(t)
				p.role.Signed.Targets["other/index.json"] = targetFile([]byte("x"))
				sign(t, p.role, alice)
				return p
			},
			want: validation.Reject, reason: "outside",
		},
		{
			desc: "path traversal in a target path", threshold: 1,
			propose: func(t *testing.T) proposal {
				p := upload(t)
				p.role.Signed.Targets["demo/../other/1.0.0/x"] = targetFile([]byte("x"))
				sign(t, p.role, alice)
				return p
			},
			want: validation.Reject,
		},
		{
			desc: "sha512 instead of sha256", threshold: 1,
			propose: func(t *testing.T) proposal {
				p := upload(t)
				s := sha512.Sum512([]byte(src110.content))
				p.role.Signed.Targets[src110.path()].Hashes = metadata.Hashes{"sha512": s[:]}
				sign(t, p.role, alice)
				return p
			},
			want: validation.Reject, reason: "sha256",
		},
		{
			desc: "sha256 and sha512 (clients would pick different ones)", threshold: 1,
			propose: func(t *testing.T) proposal {
				p := upload(t)
				s := sha512.Sum512([]byte(src110.content))
				p.role.Signed.Targets[src110.path()].Hashes["sha512"] = s[:]
				sign(t, p.role, alice)
				return p
			},
			want: validation.Reject, reason: "sha256",
		},
		{
			desc: "a truncated sha256", threshold: 1,
			propose: func(t *testing.T) proposal {
				p := upload(t)
				h := p.role.Signed.Targets[src110.path()].Hashes
				h["sha256"] = h["sha256"][:16]
				sign(t, p.role, alice)
				return p
			},
			want: validation.Reject, reason: "sha256",
		},
		{
			desc: "a negative length", threshold: 1,
			propose: func(t *testing.T) proposal {
				p := upload(t)
				p.role.Signed.Targets[src110.path()].Length = -1
				sign(t, p.role, alice)
				return p
			},
			want: validation.Reject,
		},
		{
			desc: "a published file gets other content", threshold: 1,
			propose: func(t *testing.T) proposal {
				evil := src100
				evil.content = "backdoored source"
				rel, ix := releases(t, 5, evil, whl100)
				return proposal{sign(t, rel, alice), ix}
			},
			want: validation.Reject, reason: "never",
		},
		{
			desc: "a published file gets other content of the same length", threshold: 1,
			propose: func(t *testing.T) proposal {
				evil := src100
				evil.content = strings.ToUpper(src100.content)
				rel, ix := releases(t, 5, evil, whl100)
				return proposal{sign(t, rel, alice), ix}
			},
			want: validation.Reject, reason: "never",
		},
		{
			desc: "a removed file's name is re-used for other content", threshold: 1,
			propose: func(t *testing.T) proposal {
				evil := src090
				evil.content = "new content under the old name"
				rel, ix := releases(t, 5, src100, whl100, evil)
				return proposal{sign(t, rel, alice), ix}
			},
			want: validation.Reject, reason: "re-used",
		},
		{
			desc: "no project index", threshold: 1,
			propose: func(t *testing.T) proposal {
				p := upload(t)
				delete(p.role.Signed.Targets, layout.IndexPath(project))
				sign(t, p.role, alice)
				return p
			},
			want: validation.Reject, reason: "index",
		},
		{
			desc: "the role signs a file the index does not list", threshold: 1,
			propose: func(t *testing.T) proposal {
				rel, _ := releases(t, 5, src100, whl100, src110)
				_, ix := releases(t, 5, src100, whl100)
				rel.Signed.Targets[layout.IndexPath(project)] = targetFile(ix)
				return proposal{sign(t, rel, alice), ix}
			},
			want: validation.Reject, reason: "does not list",
		},
		{
			desc: "the index lists a file the role does not sign", threshold: 1,
			propose: func(t *testing.T) proposal {
				rel, _ := releases(t, 5, src100, whl100)
				_, ix := releases(t, 5, src100, whl100, src110)
				rel.Signed.Targets[layout.IndexPath(project)] = targetFile(ix)
				return proposal{sign(t, rel, alice), ix}
			},
			want: validation.Reject, reason: "does not sign",
		},
		{
			desc: "the index and the role disagree on a hash", threshold: 1,
			propose: func(t *testing.T) proposal {
				rel, _ := releases(t, 5, src100, whl100, src110)
				other := src110
				other.content = "other bytes of 1.1.0"
				_, ix := releases(t, 5, src100, whl100, other)
				rel.Signed.Targets[layout.IndexPath(project)] = targetFile(ix)
				return proposal{sign(t, rel, alice), ix}
			},
			want: validation.Reject, reason: "disagree",
		},
		{
			desc: "the uploaded index is not the signed one", threshold: 1,
			propose: func(t *testing.T) proposal {
				p := upload(t)
				_, other := releases(t, 5, src100, whl100)
				p.index = other
				return p
			},
			want: validation.Reject, reason: "signed hash",
		},
		{
			desc: "the index is for another project", threshold: 1,
			propose: func(t *testing.T) proposal {
				rel, _ := releases(t, 5, src100, whl100)
				ix := []byte(strings.Replace(string(mustIndex(t, src100, whl100)), `"project":"demo"`, `"project":"other"`, 1))
				rel.Signed.Targets[layout.IndexPath(project)] = targetFile(ix)
				return proposal{sign(t, rel, alice), ix}
			},
			want: validation.Reject, reason: "other",
		},
		{
			desc: "a release without files in the index", threshold: 1,
			propose: func(t *testing.T) proposal {
				rel, _ := releases(t, 5, src100, whl100)
				ix, _ := (&layout.Index{Project: project, Releases: []layout.Release{
					{Version: "1.0.0", Files: []layout.FileEntry{
						{Name: src100.name, SHA256: src100.sha(), Length: int64(len(src100.content))},
						{Name: whl100.name, SHA256: whl100.sha(), Length: int64(len(whl100.content))},
					}},
					{Version: "3.0.0"},
				}}).Marshal()
				rel.Signed.Targets[layout.IndexPath(project)] = targetFile(ix)
				return proposal{sign(t, rel, alice), ix}
			},
			want: validation.Reject, reason: "no files",
		},
		{
			desc: "signed by a stranger", threshold: 1,
			propose: func(t *testing.T) proposal { p := upload(t); sign(t, p.role, carol); return p },
			want:    validation.Reject, reason: "not one of",
		},
		{
			desc: "signed by a maintainer and a stranger", threshold: 1,
			propose: func(t *testing.T) proposal { p := upload(t); sign(t, p.role, alice, carol); return p },
			want:    validation.Reject, reason: "not one of",
		},
		{
			desc: "changed after signing", threshold: 1,
			propose: func(t *testing.T) proposal {
				p := upload(t)
				p.role.Signed.Expires = p.role.Signed.Expires.Add(-time.Hour)
				return p
			},
			want: validation.Reject, reason: "does not verify",
		},
		{
			desc: "unsigned", threshold: 1,
			propose: func(t *testing.T) proposal { p := upload(t); p.role.Signatures = nil; return p },
			want:    validation.Reject, reason: "not signed",
		},
		{
			desc: "the releases role delegates (to escape the index check)", threshold: 1,
			propose: func(t *testing.T) proposal {
				p := upload(t)
				d := tufmeta.NewDelegation(pubs(carol), 1)
				p.role.Signed.Delegations = &metadata.Delegations{Keys: d.Keys, Roles: []metadata.DelegatedRole{{
					Name: "demo.extra", KeyIDs: d.KeyIDs, Threshold: 1, Paths: []string{"demo/*/*"},
				}}}
				sign(t, p.role, alice)
				return p
			},
			want: validation.Reject, reason: "delegate",
		},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			st := published(t, tt.threshold)
			p := tt.propose(t)
			d := validation.CheckReleases(st, p.role, p.index, env())
			if d.Outcome != tt.want {
				t.Fatalf("outcome %v (%v); want %v", d.Outcome, d.Reason, tt.want)
			}
			if tt.want == validation.Reject {
				checkReason(t, d.Reason, tt.conflict, tt.reason)
			} else if d.Reason != nil {
				t.Errorf("%v with a reason: %v", d.Outcome, d.Reason)
			}
			if tt.want == validation.Pending && (len(d.Sigs.Valid) != 1 || d.Sigs.Threshold != 2) {
				t.Errorf("pending with %d of %d signatures; want 1 of 2", len(d.Sigs.Valid), d.Sigs.Threshold)
			}
		})
	}
}

func mustIndex(t *testing.T, files ...file) []byte {
	_, ix := releases(t, 1, files...)
	return ix
}

func checkReason(t *testing.T, reason error, conflict bool, word string) {
	t.Helper()
	var c *validation.Conflict
	var r *validation.Rejected
	switch {
	case reason == nil:
		t.Fatal("rejected without a reason")
	case conflict && !errors.As(reason, &c):
		t.Errorf("reason %T %q; want a *validation.Conflict", reason, reason)
	case !conflict && !errors.As(reason, &r):
		t.Errorf("reason %T %q; want a *validation.Rejected", reason, reason)
	}
	if !strings.Contains(reason.Error(), word) {
		t.Errorf("reason %q does not mention %q", reason, word)
	}
}

func TestConflictNamesBothVersions(t *testing.T) {
	st := published(t, 1)
	rel, ix := releases(t, 3, src100, whl100)
	d := validation.CheckReleases(st, sign(t, rel, alice), ix, env())
	var c *validation.Conflict
	if !errors.As(d.Reason, &c) || c.Proposed != 3 || c.Current != 4 || c.Role != "demo.releases" {
		t.Errorf("reason %#v; want a conflict of version 3 against the published 4", d.Reason)
	}
}

// A maintainer's tool checks a proposal before co-signing it against state
// it verified through TUF, which has no tombstones: the published role alone
// must be enough to refuse a changed file.
func TestCheckReleasesWithoutTombstonesStillRefusesAChangedFile(t *testing.T) {
	st := published(t, 2)
	st.Tombstones = nil
	evil := src100
	evil.content = strings.ToUpper(src100.content) // same length
	rel, ix := releases(t, 5, evil, whl100)
	d := validation.CheckReleases(st, sign(t, rel, bob), ix, env())
	if d.Outcome != validation.Reject {
		t.Errorf("outcome %v; a published file changed content and the proposal was not rejected", d.Outcome)
	}
}

func TestCheckReleasesOfAProjectWithoutOwnersRole(t *testing.T) {
	st := &validation.Project{Name: project, Owners: tufmeta.NewDelegation(pubs(alice), 1)}
	p := upload(t)
	if d := validation.CheckReleases(st, p.role, p.index, env()); d.Outcome != validation.Reject {
		t.Errorf("outcome %v; want Reject", d.Outcome)
	}
}

// A new project's first releases role: version 1, an empty index.
func TestCheckReleasesOfANewProject(t *testing.T) {
	st := &validation.Project{
		Name:       project,
		Owners:     tufmeta.NewDelegation(pubs(alice), 1),
		OwnersRole: sign(t, ownersRole(1, 1, alice), alice),
		Tombstones: map[string]string{},
	}
	rel, ix := releases(t, 1)
	if d := validation.CheckReleases(st, sign(t, rel, alice), ix, env()); d.Outcome != validation.Accept {
		t.Errorf("outcome %v (%v); want Accept", d.Outcome, d.Reason)
	}
}

func TestSHA256Of(t *testing.T) {
	good := targetFile([]byte("x")).Hashes
	if s, err := validation.SHA256Of(good); err != nil || len(s) != 64 {
		t.Errorf("SHA256Of = %q, %v", s, err)
	}
	for _, h := range []metadata.Hashes{
		nil,
		{"sha512": make([]byte, 64)},
		{"sha256": make([]byte, 31)},
		{"SHA256": good["sha256"]},
		{"sha256": good["sha256"], "md5": make([]byte, 16)},
	} {
		if _, err := validation.SHA256Of(h); err == nil {
			t.Errorf("SHA256Of(%v) accepted it", h)
		}
	}
}
