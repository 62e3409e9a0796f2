package publish_test

import (
	"bytes"
	"io"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/theupdateframework/go-tuf/v2/metadata"

	"hallmark.dev/hallmark/layout"
	"hallmark.dev/hallmark/publish"
	"hallmark.dev/hallmark/signing"
	"hallmark.dev/hallmark/store"
	"hallmark.dev/hallmark/trust"
	"hallmark.dev/hallmark/tufmeta"
	"hallmark.dev/hallmark/validation"
)

func TestBootstrapPublishesEveryShard(t *testing.T) {
	r := newRepo(t)
	if ok, err := r.pub.Initialized(ctx); !ok || err != nil {
		t.Fatalf("Initialized after Bootstrap = %v, %v", ok, err)
	}
	tf, err := trust.Parse(r.blob(layout.TrustFile))
	if err != nil {
		t.Fatal(err)
	}
	if tf.Fingerprint() != r.trust.Fingerprint() {
		t.Error("served trust.json is not the ceremony's")
	}
	for _, sh := range r.shards {
		for _, role := range []string{"root", "targets", layout.ClaimedRole(sh.ID), layout.NewRole(sh.ID), "snapshot", "timestamp"} {
			if v := r.version(sh.ID, role); v != 1 {
				t.Errorf("shard %s: %s is version %d; want 1", sh.ID, role, v)
			}
		}
		if _, err := tf.CheckShardRoot(sh.ID, r.blob(layout.MetadataBlobPath(sh.ID, "1.root.json"))); err != nil {
			t.Errorf("shard %s: served root: %v", sh.ID, err)
		}
		r.checkShardServed(sh.ID)
		// The new bin is the shard's own, signed by its online new key.
		bin, err := tufmeta.Decode[metadata.TargetsType](r.blob(layout.MetadataBlobPath(sh.ID, "1."+layout.NewRole(sh.ID)+".json")))
		if err != nil {
			t.Fatal(err)
		}
		del, _, _ := tufmeta.TargetsDelegation(sh.Targets, layout.NewRole(sh.ID))
		if err := tufmeta.Verify(bin, del, layout.NewRole(sh.ID)); err != nil {
			t.Errorf("shard %s: new bin: %v", sh.ID, err)
		}
		if err := trust.CheckIdentity("new bin", bin.Signed.UnrecognizedFields, sh.ID, shards); err != nil {
			t.Errorf("shard %s: %v", sh.ID, err)
		}
	}
}

// The story of a project: alice creates demo, uploads 1.0.0, then 1.1.0.
// Each accepted change is one batch: the shard's snapshot and timestamp
// grow by exactly one, nothing in other shards moves, the snapshot never
// drops an entry, and what is served verifies.
func TestCreateProjectThenUploadReleases(t *testing.T) {
	r := newRepo(t)
	shard := layout.ShardOf("demo", shards)
	other := layout.ShardIDs(shards)[0]
	if other == shard {
		other = layout.ShardIDs(shards)[1]
	}

	res := r.mustAccept(createChange(t, "Demo", alice, r.clock.Now()))
	if res.Shard != shard || res.SnapshotVersion != 2 {
		t.Errorf("create: shard %s snapshot %d; want shard %s snapshot 2", res.Shard, res.SnapshotVersion, shard)
	}
	p, err := r.state.Project(ctx, "demo")
	if err != nil || p.Display != "Demo" || p.Status != store.StatusNew || p.Shard != shard {
		t.Errorf("project = %+v, %v", p, err)
	}
	if v := r.version(shard, layout.NewRole(shard)); v != 2 {
		t.Errorf("new bin is version %d after a creation; want 2", v)
	}
	bin, _ := tufmeta.Decode[metadata.TargetsType](r.blob(layout.MetadataBlobPath(shard, layout.MetadataFile(layout.NewRole(shard), 2))))
	if d, role, err := tufmeta.TargetsDelegation(bin, "demo"); err != nil || !role.Terminating || !slices.Equal(d.KeyIDs, []string{alice.ID()}) {
		t.Errorf("new bin's delegation to demo = %+v, %+v, %v", d, role, err)
	}
	audit, _ := r.state.Audit(ctx, "demo", 10)
	if !slices.ContainsFunc(audit, func(a store.AuditEntry) bool { return a.Action == "create" && slices.Contains(a.KeyIDs, alice.ID()) }) {
		t.Errorf("no audit line of the creation signed by alice: %+v", audit)
	}

	entries := map[string]int64{}
	for i, v := range []string{"1.0.0", "1.1.0"} {
		file := "demo-" + v + ".tar.gz"
		content := "source of demo " + v
		res := r.mustAccept(r.planRelease("demo").add(v, map[string]string{file: content}).change(t, alice))
		wantSnap := int64(3 + i)
		if res.SnapshotVersion != wantSnap || r.version(shard, "snapshot") != wantSnap || r.version(shard, "timestamp") != wantSnap {
			t.Errorf("after release %s: result snapshot %d, stored snapshot %d, timestamp %d; want %d", v, res.SnapshotVersion,
				r.version(shard, "snapshot"), r.version(shard, "timestamp"), wantSnap)
		}
		if rv := r.version(shard, layout.ReleasesRole("demo")); rv != int64(2+i) {
			t.Errorf("releases role is version %d; want %d", rv, 2+i)
		}
		path := layout.FilePath("demo", v, file)
		sum := staged([]byte(content)).SHA256
		if got := r.blob("targets/" + layout.TargetBlobPath(path, sum)); string(got) != content {
			t.Errorf("served %s = %q", path, got)
		}
		files, _ := r.state.Files(ctx, "demo")
		if !slices.ContainsFunc(files, func(f store.FileRecord) bool { return f.Path == path && f.SHA256 == sum && !f.Removed }) {
			t.Errorf("no file record for %s: %+v", path, files)
		}
		snap := r.snapshotOf(shard)
		for name, ver := range entries {
			if mf, ok := snap.Signed.Meta[name]; !ok || mf.Version < ver {
				t.Errorf("snapshot v%d dropped or rolled back %s (had v%d)", snap.Signed.Version, name, ver)
			}
		}
		for name, mf := range snap.Signed.Meta {
			entries[name] = mf.Version
		}
		r.checkShardServed(shard)
	}
	for _, role := range []string{"snapshot", "timestamp", layout.NewRole(other)} {
		if v := r.version(other, role); v != 1 {
			t.Errorf("shard %s (untouched) has %s version %d", other, role, v)
		}
	}

	// The published releases role verifies against the published owners
	// role, the way a downloader walks the delegations.
	owners, _ := tufmeta.Decode[metadata.TargetsType](r.blob(layout.MetadataBlobPath(shard, layout.MetadataFile("demo", 1))))
	rel, _ := tufmeta.Decode[metadata.TargetsType](r.blob(layout.MetadataBlobPath(shard, layout.MetadataFile("demo.releases", 3))))
	del, _, err := tufmeta.TargetsDelegation(owners, "demo.releases")
	if err != nil {
		t.Fatal(err)
	}
	if err := tufmeta.Verify(rel, del, "demo.releases"); err != nil {
		t.Error(err)
	}
	ix := r.planRelease("demo").index
	if latest, err := ix.Latest(); err != nil || latest.Version != "1.1.0" {
		t.Errorf("latest = %v, %v", latest, err)
	}
}

// Many maintainers upload to one shard at once: the publisher groups their
// changes into few batches (one snapshot and timestamp each), validates
// them in order, and accepts only one of two creations of the same name.
func TestConcurrentSubmitsToOneShardShareBatches(t *testing.T) {
	r := newRepo(t)
	const n = 24
	names := sameShard("pkg-0", n+1)
	shard := layout.ShardOf(names[0], shards)

	// The first creation holds the loop while the others queue.
	first := createChange(t, names[n], alice, r.clock.Now())
	entered, open := make(chan struct{}), make(chan struct{})
	idx := first.Files[layout.IndexPath(names[n])]
	inner := idx.Open
	var once sync.Once
	idx.Open = func() (io.ReadCloser, error) {
		once.Do(func() { close(entered) })
		<-open
		return inner()
	}
	first.Files[layout.IndexPath(names[n])] = idx

	results := make(chan publish.Result, n+2)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		res, err := r.pub.Submit(ctx, first)
		if err != nil {
			t.Error(err)
		}
		results <- res
	}()
	<-entered

	var started sync.WaitGroup
	changes := []*publish.Change{createChange(t, names[0], bob, r.clock.Now())} // a rival for names[0]
	for _, name := range names[:n] {
		changes = append(changes, createChange(t, name, alice, r.clock.Now()))
	}
	for _, c := range changes {
		wg.Add(1)
		started.Add(1)
		go func() {
			defer wg.Done()
			started.Done()
			res, err := r.pub.Submit(ctx, c)
			if err != nil {
				t.Error(err)
			}
			results <- res
		}()
	}
	started.Wait()
	close(open)
	wg.Wait()
	close(results)

	var accepted, exists int
	for res := range results {
		switch {
		case res.Outcome == validation.Accept:
			accepted++
		case res.Reason != nil && strings.Contains(res.Reason.Error(), "exists already"):
			exists++
		default:
			t.Errorf("unexpected result %v: %v", res.Outcome, res.Reason)
		}
	}
	if accepted != n+1 || exists != 1 {
		t.Errorf("%d accepted and %d refused as existing; want %d and 1", accepted, exists, n+1)
	}
	batches, published, rejected, _, _, _, _ := r.pub.Snapshot()
	t.Logf("%d changes published in %d batches", published, batches)
	if published != n+1 || rejected != 1 {
		t.Errorf("stats: %d published, %d rejected", published, rejected)
	}
	if batches > n/2 {
		t.Errorf("%d changes took %d batches; concurrent changes to one shard must share batches", n+2, batches)
	}
	// One snapshot and one timestamp per batch.
	if v := r.version(shard, "snapshot"); v != 1+batches {
		t.Errorf("snapshot version %d after %d batches; want %d", v, batches, 1+batches)
	}
	if v := r.version(shard, "timestamp"); v != 1+batches {
		t.Errorf("timestamp version %d after %d batches; want %d", v, batches, 1+batches)
	}
	bin, _ := tufmeta.Decode[metadata.TargetsType](r.blob(layout.MetadataBlobPath(shard, layout.MetadataFile(layout.NewRole(shard), r.version(shard, layout.NewRole(shard))))))
	if got := len(bin.Signed.Delegations.Roles); got != n+1 {
		t.Errorf("new bin delegates %d projects; want %d", got, n+1)
	}
	d, _, _ := tufmeta.TargetsDelegation(bin, names[0])
	p, _ := r.state.Project(ctx, names[0])
	if len(d.KeyIDs) != 1 || p.Name != names[0] {
		t.Fatalf("project %s: delegation %v", names[0], d.KeyIDs)
	}
	r.checkShardServed(shard)
}

// Bad input changes nothing: every rejected change leaves the store and
// the served files exactly as they were.
func TestRejectedChangesLeaveTheRepositoryUnchanged(t *testing.T) {
	r := newRepo(t)
	r.mustAccept(createChange(t, "demo", alice, r.clock.Now()))
	r.mustAccept(r.planRelease("demo").add("1.0.0", map[string]string{"demo-1.0.0.tar.gz": "good source"}).change(t, alice))

	tests := []struct {
		desc   string
		change func(t *testing.T) *publish.Change
	}{
		{"built on an old version", func(t *testing.T) *publish.Change {
			p := r.planRelease("demo").add("2.0.0", map[string]string{"demo-2.0.0.tar.gz": "x"})
			p.role.Signed.Version--
			return p.change(t, alice)
		}},
		{"signed by a stranger", func(t *testing.T) *publish.Change {
			return r.planRelease("demo").add("2.0.0", map[string]string{"demo-2.0.0.tar.gz": "x"}).change(t, mallory)
		}},
		{"the uploaded file is not the signed one", func(t *testing.T) *publish.Change {
			c := r.planRelease("demo").add("2.0.0", map[string]string{"demo-2.0.0.tar.gz": "signed bytes"}).change(t, alice)
			c.Files[layout.FilePath("demo", "2.0.0", "demo-2.0.0.tar.gz")] = staged([]byte("other bytes!"))
			return c
		}},
		{"a signed file was not uploaded", func(t *testing.T) *publish.Change {
			c := r.planRelease("demo").add("2.0.0", map[string]string{"demo-2.0.0.tar.gz": "x"}).change(t, alice)
			delete(c.Files, layout.FilePath("demo", "2.0.0", "demo-2.0.0.tar.gz"))
			return c
		}},
		{"an uploaded file the role does not sign", func(t *testing.T) *publish.Change {
			c := r.planRelease("demo").add("2.0.0", map[string]string{"demo-2.0.0.tar.gz": "x"}).change(t, alice)
			c.Files[layout.FilePath("demo", "2.0.0", "extra.tar.gz")] = staged([]byte("smuggled"))
			return c
		}},
		{"a published file gets other content", func(t *testing.T) *publish.Change {
			p := r.planRelease("demo").drop("1.0.0").add("1.0.0", map[string]string{"demo-1.0.0.tar.gz": "evil source"})
			return p.change(t, alice)
		}},
		{"a target in another project", func(t *testing.T) *publish.Change {
			p := r.planRelease("demo").add("2.0.0", map[string]string{"demo-2.0.0.tar.gz": "x"})
			p.role.Signed.Targets["other/1.0.0/x.tar.gz"] = targetFile([]byte("x"))
			return p.change(t, alice)
		}},
		{"creating a project that exists", func(t *testing.T) *publish.Change {
			return createChange(t, "Demo", mallory, r.clock.Now())
		}},
		{"creating a reserved name", func(t *testing.T) *publish.Change {
			return createChange(t, "root", mallory, r.clock.Now())
		}},
		{"changing a project that does not exist", func(t *testing.T) *publish.Change {
			c := r.planRelease("demo").change(t, alice)
			c.Project = "nope"
			return c
		}},
		{"a change without roles", func(t *testing.T) *publish.Change {
			return &publish.Change{Project: "demo"}
		}},
		{"creating with an owner threshold the keys cannot meet", func(t *testing.T) *publish.Change {
			c := createChange(t, "fresh", alice, r.clock.Now())
			c.Owners.Threshold = 2
			return c
		}},
		{"creating with owner keys that did not sign", func(t *testing.T) *publish.Change {
			c := createChange(t, "fresh", alice, r.clock.Now())
			c.Owners = tufmeta.NewDelegation([]signing.PublicKey{bob.Public()}, 1)
			return c
		}},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			before := r.view()
			_, _, rejectedBefore, _, _, _, _ := r.pub.Snapshot()
			res := r.submit(tt.change(t))
			if res.Outcome != validation.Reject || res.Reason == nil {
				t.Fatalf("outcome %v (%v); want a rejection with a reason", res.Outcome, res.Reason)
			}
			if res.SnapshotVersion != 0 {
				t.Errorf("a rejection names snapshot %d", res.SnapshotVersion)
			}
			if after := r.view(); after != before {
				t.Errorf("the rejected change (%v) changed the repository:\nbefore:\n%s\nafter:\n%s", res.Reason, before, after)
			}
			if _, _, rejected, _, _, _, _ := r.pub.Snapshot(); rejected != rejectedBefore+1 {
				t.Errorf("rejections counted %d -> %d", rejectedBefore, rejected)
			}
		})
	}
}

// PEP 592 and PyPI: a removed file's name never returns with other
// content, even after the release is gone from the index.
func TestRemovedFileNameIsNeverReused(t *testing.T) {
	r := newRepo(t)
	r.mustAccept(createChange(t, "demo", alice, r.clock.Now()))
	r.mustAccept(r.planRelease("demo").add("1.0.0", map[string]string{"demo-1.0.0.tar.gz": "original"}).change(t, alice))
	path := layout.FilePath("demo", "1.0.0", "demo-1.0.0.tar.gz")
	blobPath := "targets/" + layout.TargetBlobPath(path, staged([]byte("original")).SHA256)

	r.mustAccept(r.planRelease("demo").drop("1.0.0").change(t, alice))
	files, _ := r.state.Files(ctx, "demo")
	if len(files) != 1 || !files[0].Removed {
		t.Errorf("file records after removal: %+v", files)
	}
	if ok, _ := r.blobs.Exists(ctx, blobPath); ok {
		t.Error("the removed file is still served")
	}

	before := r.view()
	res := r.submit(r.planRelease("demo").add("1.0.0", map[string]string{"demo-1.0.0.tar.gz": "replacement"}).change(t, alice))
	if res.Outcome != validation.Reject {
		t.Fatalf("re-use of a removed name with other content: %v", res.Outcome)
	}
	if r.view() != before {
		t.Error("the refused re-use changed the repository")
	}
}

func TestRepairRewritesTheServedTimestamp(t *testing.T) {
	r := newRepo(t)
	r.mustAccept(createChange(t, "demo", alice, r.clock.Now()))
	shard := layout.ShardOf("demo", shards)
	tsPath := layout.MetadataBlobPath(shard, "timestamp.json")
	snapPath := layout.MetadataBlobPath(shard, layout.MetadataFile("snapshot", 2))
	oldTS, _ := r.state.RoleVersion(ctx, shard, "timestamp", 1)

	if n, err := r.pub.Repair(ctx); n != 0 || err != nil {
		t.Fatalf("Repair of an intact repository = %d, %v", n, err)
	}
	tests := []struct {
		desc   string
		damage func()
	}{
		{"timestamp.json deleted", func() { r.blobs.Delete(ctx, tsPath) }},
		{"timestamp.json corrupted", func() { r.blobs.Put(ctx, tsPath, strings.NewReader(`{"signed":"garbage"}`)) }},
		{"timestamp.json truncated", func() {
			b := r.blob(tsPath)
			r.blobs.Put(ctx, tsPath, bytes.NewReader(b[:len(b)/2]))
		}},
		{"timestamp.json with trailing bytes", func() {
			r.blobs.Put(ctx, tsPath, bytes.NewReader(append(r.blob(tsPath), '\n')))
		}},
		{"crash after commit: the previous timestamp is still served", func() {
			r.blobs.Put(ctx, tsPath, bytes.NewReader(oldTS.Data))
		}},
		{"current snapshot file deleted", func() { r.blobs.Delete(ctx, snapPath) }},
	}
	for _, tt := range tests {
		tt.damage()
		n, err := r.pub.Repair(ctx)
		if err != nil || n != 1 {
			t.Errorf("%s: Repair = %d, %v; want 1 file repaired", tt.desc, n, err)
		}
		r.checkShardServed(shard)
		if n, _ := r.pub.Repair(ctx); n != 0 {
			t.Errorf("%s: a second Repair repaired %d more", tt.desc, n)
		}
	}
}

// Online metadata is renewed by the server inside its signing period, and
// only then. The clock is the publisher's.
func TestRenewAllRenewsOnlyInsideTheSigningPeriod(t *testing.T) {
	r := newRepo(t)
	ids := layout.ShardIDs(shards)
	versions := func(shard string) [3]int64 {
		return [3]int64{r.version(shard, "timestamp"), r.version(shard, "snapshot"), r.version(shard, layout.NewRole(shard))}
	}
	renew := func(at time.Duration) int {
		t.Helper()
		r.clock.Set(start.Add(at))
		n, err := r.pub.RenewAll(ctx)
		if err != nil {
			t.Fatalf("RenewAll at +%v: %v", at, err)
		}
		return n
	}

	// One hour in: nothing is due, nothing moves.
	before := r.view()
	if n := renew(time.Hour); n != 0 {
		t.Errorf("RenewAll at +1h renewed %d shards; want 0", n)
	}
	if r.view() != before {
		t.Error("RenewAll at +1h changed the repository")
	}

	// Five hours in, the day-long timestamp is inside its 20 h signing period.
	if n := renew(5 * time.Hour); n != shards {
		t.Errorf("RenewAll at +5h renewed %d shards; want %d", n, shards)
	}
	for _, id := range ids {
		v := versions(id)
		if v[0] != 2 || v[2] != 1 {
			t.Errorf("shard %s at +5h: timestamp v%d, new bin v%d; want v2 and v1", id, v[0], v[2])
		}
		rf, _ := r.state.Role(ctx, id, "timestamp")
		if want := start.Add(5*time.Hour + 24*time.Hour); !rf.Expires.Equal(want) {
			t.Errorf("shard %s: renewed timestamp expires %v; want %v", id, rf.Expires, want)
		}
		r.checkShardServed(id)
	}
	// Just renewed: at the same time nothing is due again.
	before = r.view()
	if n := renew(5 * time.Hour); n != 0 {
		t.Errorf("a second RenewAll at +5h renewed %d shards", n)
	}
	if r.view() != before {
		t.Error("a second RenewAll at +5h changed the repository")
	}

	// Two days in, the week-long snapshot and new bin are inside their six-day
	// signing period: all three are renewed.
	prev := versions(ids[3])
	if n := renew(48 * time.Hour); n != shards {
		t.Errorf("RenewAll at +48h renewed %d shards; want %d", n, shards)
	}
	for _, id := range ids {
		v := versions(id)
		if v[0] <= prev[0] || v[1] <= prev[1] || v[2] != 2 {
			t.Errorf("shard %s at +48h: versions %v after %v; want timestamp and snapshot up, new bin v2", id, v, prev)
		}
		bin, err := tufmeta.Decode[metadata.TargetsType](r.blob(layout.MetadataBlobPath(id, layout.MetadataFile(layout.NewRole(id), 2))))
		if err != nil {
			t.Fatal(err)
		}
		if want := start.Add(48*time.Hour + 7*24*time.Hour); !bin.Signed.Expires.Equal(want) {
			t.Errorf("shard %s: renewed new bin expires %v; want %v", id, bin.Signed.Expires, want)
		}
		if mf := r.snapshotOf(id).Signed.Meta[layout.NewRole(id)+".json"]; mf == nil || mf.Version != 2 {
			t.Errorf("shard %s: snapshot does not list the renewed new bin", id)
		}
		r.checkShardServed(id)
	}
	if _, _, _, renewals, _, _, _ := r.pub.Snapshot(); renewals != 2*shards {
		t.Errorf("%d renewals counted; want %d", renewals, 2*shards)
	}
}

// DESIGN.md section 3: "A refresh when nothing changed in that shard: the
// timestamp only." Renewing the timestamp alone must not make every client
// download a new snapshot every few hours.
func TestTimestampRenewalKeepsTheSnapshot(t *testing.T) {
	r := newRepo(t)
	r.clock.Set(start.Add(5 * time.Hour))
	if _, err := r.pub.RenewAll(ctx); err != nil {
		t.Fatal(err)
	}
	for _, id := range layout.ShardIDs(shards)[:2] {
		if ts := r.version(id, "timestamp"); ts != 2 {
			t.Errorf("shard %s: timestamp v%d; want v2", id, ts)
		}
		if snap := r.version(id, "snapshot"); snap != 1 {
			t.Errorf("shard %s: renewing the timestamp alone published snapshot v%d; want v1 still", id, snap)
		}
	}
}

// TestFullNewBinRefusesCreation: a shard whose new-projects bin would grow
// past what clients read refuses further projects with a message that says
// what to do, and keeps publishing everything else.
func TestFullNewBinRefusesCreation(t *testing.T) {
	r := newRepo(t)
	r.restartPublisher(maxNewBin(1500))
	names := sameShard("full-0", 12)
	accepted := 0
	var refusal error
	for _, n := range names {
		res := r.submit(createChange(t, n, alice, r.clock.Now()))
		if res.Outcome.String() == "accepted" {
			accepted++
			continue
		}
		refusal = res.Reason
		break
	}
	if accepted == 0 || refusal == nil || !strings.Contains(refusal.Error(), "ask the repository's admins to claim projects") {
		t.Fatalf("accepted %d creations, then %v; want some, then a refusal that says to claim", accepted, refusal)
	}
	// The shard still publishes: a release of an accepted project.
	r.mustAccept(r.planRelease(names[0]).add("1.0.0", map[string]string{"a.tar.gz": "A"}).change(t, alice))
	r.checkShardServed(layout.ShardOf(names[0], shards))
}

// A change finds its project's owners in the new-projects bin three ways:
// read from the stored bytes (cold cache), by decoding the bin (once the
// same bin was read often), and from the decoded bin in the cache. Each
// must accept the owners' signature and refuse anyone else's.
func TestReleaseReadsItsDelegationCachedOrNot(t *testing.T) {
	r := newRepo(t)
	// Another project first, so demo's is not the bin's first delegation.
	r.mustAccept(createChange(t, sameShard("demo", 2)[1], bob, r.clock.Now()))
	r.mustAccept(createChange(t, "demo", alice, r.clock.Now()))
	shard := layout.ShardOf("demo", shards)
	// resign proposes the published owners role again, one version up,
	// signed by k: only the owners the bin delegates to may.
	resign := func(k *signing.Key) *publish.Change {
		rf, err := r.state.Role(ctx, shard, layout.OwnersRole("demo"))
		if err != nil {
			t.Fatal(err)
		}
		md, err := tufmeta.Decode[metadata.TargetsType](rf.Data)
		if err != nil {
			t.Fatal(err)
		}
		md.Signed.Version++
		md.Signatures = nil
		if err := tufmeta.Sign(md, k); err != nil {
			t.Fatal(err)
		}
		return &publish.Change{Project: "demo", OwnersRole: md}
	}
	refuse := func(path string) {
		if res := r.submit(resign(mallory)); res.Outcome != validation.Reject {
			t.Errorf("%s: an owners role signed by mallory was %v", path, res.Outcome)
		}
	}
	// read lookups from the stored bytes, alternating, then one more.
	lookups := func(last *signing.Key) {
		r.restartPublisher()
		for i := range 8 { // publish.decodeAfterLookups
			if i%2 == 0 {
				r.mustAccept(resign(alice))
			} else {
				refuse("stored bytes")
			}
		}
		if last == alice {
			r.mustAccept(resign(alice)) // the bin decoded
		} else {
			refuse("bin decoded")
		}
	}
	lookups(alice)
	refuse("cached bin")
	r.mustAccept(resign(alice))
	lookups(mallory)
	r.mustAccept(resign(alice))
}

func maxNewBin(n int) func(*publish.Config) {
	return func(c *publish.Config) { c.MaxNewBin = n }
}

// Attack: one creation naming many owner keys must not slip a bin past the
// size limit (each key adds its id and its public key to the bin).
func TestCreationWithManyOwnerKeysCountsThemAll(t *testing.T) {
	r := newRepo(t)
	r.restartPublisher(maxNewBin(6000))
	shard := layout.ShardOf("many", shards)
	before := r.version(shard, layout.NewRole(shard))

	var keys []*signing.Key
	for i := range 40 {
		keys = append(keys, key(byte(100+i), "owner"))
	}
	c := createChange(t, "many", keys[0], r.clock.Now())
	var pubs []signing.PublicKey
	for _, k := range keys {
		pubs = append(pubs, k.Public())
	}
	c.Owners = tufmeta.NewDelegation(pubs, 1)
	c.OwnersRole.Signed.Delegations.Keys = c.Owners.Keys
	c.OwnersRole.Signed.Delegations.Roles[0].KeyIDs = c.Owners.KeyIDs
	c.OwnersRole.Signatures = nil
	for _, k := range keys {
		if err := tufmeta.Sign(c.OwnersRole, k); err != nil {
			t.Fatal(err)
		}
	}
	res := r.submit(c)
	if res.Outcome != validation.Reject || !strings.Contains(res.Reason.Error(), "claim projects") {
		t.Fatalf("a creation with 40 owner keys into a bin limited to 6000 bytes: %v, %v", res.Outcome, res.Reason)
	}
	if v := r.version(shard, layout.NewRole(shard)); v != before {
		t.Errorf("the new bin went from version %d to %d", before, v)
	}
}
