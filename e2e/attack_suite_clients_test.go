package e2e

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/theupdateframework/go-tuf/v2/metadata"

	"hallmark.dev/hallmark/layout"
)

// clientAttack is an attack on what downloaders are served.
type clientAttack struct {
	name     string
	attacker string // the capability it needs
	refusal  string // what every client must do
	// newRelease: before the attack, the warm clients read p and alice
	// publishes a release they have not seen, which the attack hides or
	// garbles.
	newRelease bool
	// mirror: the clients reach the repository through the mirror.
	mirror bool
	// version is the release the clients ask for (default: the newest).
	version string
	// attack changes what is served for p and returns what hallmark's
	// error must say. What it changes is put back afterwards.
	attack func(t *testing.T, r *suiteRepo, p *suiteProject) (want string)
}

// warmUp makes the warm clients of c read the current state of p, then
// publishes a release they have not seen yet.
func warmUp(t *testing.T, r *suiteRepo, c clients, p *suiteProject) {
	t.Helper()
	if res := c.warm.Run("versions", p.name); res.Code != 0 {
		t.Fatalf("%s: warm hallmark versions: %s", c.described, res.Stderr)
	}
	if err := goTUFGet(c.warmTUF, p.target(p.latest)); err != nil {
		t.Fatalf("%s: warm go-tuf: %v", c.described, err)
	}
	if c.js != nil {
		c.js(t).mustGet(p.target(p.latest), c.warmJS)
	}
	r.release(t, p)
}

// metadataURLPath is the served path of one of p's shard's metadata files.
func metadataURLPath(p *suiteProject, file string) string {
	return "/" + layout.MetadataBlobPath(p.shard, file)
}

var clientAttacks = []clientAttack{
	{
		name: "mix-and-match: the previous releases role served under the new version", mirror: true, newRelease: true, attacker: capMirror,
		refusal: "refused: the role's version is not the one the snapshot lists",
		attack: func(t *testing.T, r *suiteRepo, p *suiteProject) string {
			cur := r.att.snapshot(p.shard).Signed.Meta[layout.ReleasesRole(p.name)+".json"].Version
			old := r.att.read(p.shard, layout.MetadataFile(layout.ReleasesRole(p.name), cur-1))
			r.mirror.swap.Store(&mirrorSwap{metadataURLPath(p, layout.MetadataFile(layout.ReleasesRole(p.name), cur)), old})
			return "failed verification"
		},
	},
	{
		name: "mix-and-match: the previous snapshot served under the new version", mirror: true, newRelease: true, attacker: capMirror,
		refusal: "refused: the snapshot's version or hash is not the one the timestamp lists",
		attack: func(t *testing.T, r *suiteRepo, p *suiteProject) string {
			cur := r.att.snapshot(p.shard).Signed.Version
			old := r.att.read(p.shard, layout.MetadataFile(layout.RoleSnapshot, cur-1))
			r.mirror.swap.Store(&mirrorSwap{metadataURLPath(p, layout.MetadataFile(layout.RoleSnapshot, cur)), old})
			return "failed verification"
		},
	},
	{
		name: "mix-and-match: another project's file served under this one's name", mirror: true, attacker: capMirror,
		refusal: "refused: the file does not match its signed hash and length",
		attack: func(t *testing.T, r *suiteRepo, p *suiteProject) string {
			other := r.projects[0]
			if other == p {
				other = r.projects[1]
			}
			path := "/targets/" + layout.TargetBlobPath(p.target(p.latest), hexDigest(p.content(p.latest)))
			r.mirror.swap.Store(&mirrorSwap{path, other.content(other.latest)})
			return "tampered"
		},
	},
	{
		name: "cross-shard replay: another shard's metadata served as this shard's", mirror: true, newRelease: true, attacker: capMirror,
		refusal: "refused: the shard's online keys and signed shard identity differ (skipped with 1 shard)",
		attack: func(t *testing.T, r *suiteRepo, p *suiteProject) string {
			r.mirror.shardSwap.Store(&[2]string{p.shard, otherShardThan(t, r.shards, p.shard)})
			return "shard " + p.shard
		},
	},
	{
		name: "rollback: a snapshot that lists the previous releases role hides the new release", newRelease: true, attacker: capOnline,
		refusal: "refused: the witness will not co-sign, the timestamp lacks its threshold of signatures",
		attack: func(t *testing.T, r *suiteRepo, p *suiteProject) string {
			snap := r.att.snapshot(p.shard)
			snap.Signed.Version++
			role := layout.ReleasesRole(p.name) + ".json"
			snap.Signed.Meta[role] = metadata.MetaFile(snap.Signed.Meta[role].Version - 1)
			r.att.publishSnapshot(p.shard, snap)
			if len(r.att.refusals) == 0 {
				t.Fatal("the witness co-signed a rollback")
			}
			return "failed verification"
		},
	},
	{
		name: "freeze: a timestamp re-signed with an expiry in the past", attacker: capOnline,
		refusal: "refused: expired (and the witness will not co-sign it)",
		attack: func(t *testing.T, r *suiteRepo, p *suiteProject) string {
			ts := r.att.timestamp(p.shard)
			snap := r.att.snapshot(p.shard)
			data := r.att.read(p.shard, layout.MetadataFile(layout.RoleSnapshot, snap.Signed.Version))
			r.att.publishTimestamp(p.shard, ts.Signed.Version+1, time.Now().Add(-time.Hour), snap.Signed.Version, data)
			return "failed verification"
		},
	},
	{
		name: "endless data: timestamp.json never ends", mirror: true, attacker: capNetwork,
		refusal: "refused after the timestamp's size limit; nothing is saved",
		attack: func(t *testing.T, r *suiteRepo, p *suiteProject) string {
			r.mirror.endless.Store("/" + layout.MetadataBlobPath(p.shard, "timestamp.json"))
			return "timestamp.json"
		},
	},
	{
		name: "endless data: the new releases role never ends", mirror: true, newRelease: true, attacker: capMirror,
		refusal: "refused after the role's size limit; nothing is saved",
		attack: func(t *testing.T, r *suiteRepo, p *suiteProject) string {
			cur := r.att.snapshot(p.shard).Signed.Meta[layout.ReleasesRole(p.name)+".json"].Version
			r.mirror.endless.Store(metadataURLPath(p, layout.MetadataFile(layout.ReleasesRole(p.name), cur)))
			return layout.ReleasesRole(p.name)
		},
	},
	{
		name: "endless data: the artifact never ends", mirror: true, attacker: capMirror,
		refusal: "refused once more bytes than signed arrive; nothing is saved",
		attack: func(t *testing.T, r *suiteRepo, p *suiteProject) string {
			r.mirror.endless.Store(p.name + "-" + p.latest + ".tar.gz")
			return "tampered"
		},
	},
	{
		name: "arbitrary installation: an unsigned release added to the blob store", version: "6.6.6", attacker: capBlobs,
		refusal: "refused: no signed release 6.6.6",
		attack: func(t *testing.T, r *suiteRepo, p *suiteProject) string {
			evil := []byte("backdoor")
			blob := r.srv.BlobPath("targets/" + layout.TargetBlobPath(p.target("6.6.6"), hexDigest(evil)))
			if err := os.MkdirAll(filepath.Dir(blob), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(blob, evil, 0o644); err != nil {
				t.Fatal(err)
			}
			return "6.6.6"
		},
	},
}

// runClientAttacks runs every client attack against each project of r.
func runClientAttacks(t *testing.T, r *suiteRepo) {
	for _, p := range r.projects {
		for _, a := range clientAttacks {
			t.Run(p.kind+"/"+a.name, func(t *testing.T) {
				t.Logf("attacker: %s; expected: %s", a.attacker, a.refusal)
				c := r.direct(p)
				if a.mirror {
					c = r.viaMirror(p)
				}
				if a.newRelease {
					warmUp(t, r, c, p)
				}
				v := a.version
				if v == "" {
					v = p.latest
				}
				restoreMeta := saveTree(t, r.srv.BlobPath(layout.MetadataBlobPath(p.shard, "")))
				restoreTargets := saveTree(t, r.srv.BlobPath("targets/"+p.name))
				refusalsBefore := len(r.att.refusals)
				r.mirror.sent.Store(0)
				mustRefuse(t, c, p, v, a.attack(t, r, p))
				// Every client stopped reading endless data at its limit
				// (a few MB each), long before the mirror's 4 GiB.
				if sent := r.mirror.sent.Load(); sent > 64<<20 {
					t.Errorf("the clients read %d MB of endless data", sent>>20)
				} else if sent > 0 {
					t.Logf("the clients read %d KB of endless data in all", sent>>10)
				}
				r.mirror.swap.Store(nil)
				r.mirror.shardSwap.Store(nil)
				r.mirror.endless.Store("")
				restoreTargets()
				restoreMeta()
				r.att.refusals = r.att.refusals[:refusalsBefore]
				if t.Failed() {
					return
				}
				// Put back, the repository serves alice's release again.
				r.mustAccept(t, p, false)
			})
		}
		// The warm tuf-js clients still read the repository after every
		// attack, so their refusals above were not of a broken cache.
		for _, c := range []clients{r.direct(p), r.viaMirror(p)} {
			if c.js != nil {
				for _, cache := range []string{c.warmJS, t.TempDir()} {
					if got := c.js(t).mustGet(p.target(p.latest), cache); !bytes.Equal(got, p.content(p.latest)) {
						t.Fatalf("%s: tuf-js downloaded %q after the attacks", c.described, got)
					}
				}
			}
		}
	}
}
