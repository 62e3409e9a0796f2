package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/theupdateframework/go-tuf/v2/metadata"
	"github.com/theupdateframework/go-tuf/v2/metadata/config"
	"github.com/theupdateframework/go-tuf/v2/metadata/updater"

	"hallmark.dev/hallmark/layout"
	"hallmark.dev/hallmark/signing"
	"hallmark.dev/hallmark/tufmeta"
)

// The baselines are single TUF repositories holding the same projects,
// with the same project roles (the very files Hallmark published, signed by
// the projects' keys) and the same target files, but one root, one
// snapshot and one timestamp for everything:
//
//   - flat: targets delegates to claimed and new; new delegates to every
//     project (Hallmark's shape with S = 1, built without its publisher);
//   - bins B: new delegates by path_hash_prefixes to B hash bins, each of
//     which delegates to the projects that have a target path in it (a
//     project whose paths hash into several bins is delegated by each);
//   - flat, one shard of 16: Hallmark's S = 16 shape for the measured
//     project's shard, for sizes where the publisher refuses to build it.
//
// All are built with go-tuf's metadata API and read with go-tuf's updater.

// baseProject is what the baselines need of one published project.
type baseProject struct {
	name      string
	keyIDs    []string
	threshold int
	owners    int64 // owners role version
	releases  int64 // releases role version
	paths     []string
}

// collect reads every project of the repository from its published bins
// and snapshots.
func (r *benchRepo) collect(ctx context.Context) ([]baseProject, map[string]*metadata.Key, error) {
	keys := map[string]*metadata.Key{}
	var out []baseProject
	for _, shard := range layout.ShardIDs(r.shards) {
		rf, err := r.repo.State.Role(ctx, shard, layout.NewRole(shard))
		if err != nil {
			return nil, nil, err
		}
		bin, err := tufmeta.Decode[metadata.TargetsType](rf.Data)
		if err != nil {
			return nil, nil, err
		}
		sf, err := r.repo.State.Role(ctx, shard, layout.RoleSnapshot)
		if err != nil {
			return nil, nil, err
		}
		snap, err := tufmeta.Decode[metadata.SnapshotType](sf.Data)
		if err != nil {
			return nil, nil, err
		}
		if bin.Signed.Delegations == nil {
			continue
		}
		maps.Copy(keys, bin.Signed.Delegations.Keys)
		for _, d := range bin.Signed.Delegations.Roles {
			p := baseProject{name: d.Name, keyIDs: d.KeyIDs, threshold: d.Threshold}
			p.owners = snap.Signed.Meta[layout.OwnersRole(d.Name)+".json"].Version
			p.releases = snap.Signed.Meta[layout.ReleasesRole(d.Name)+".json"].Version
			if p.releases == 1 {
				p.paths = []string{layout.IndexPath(d.Name)}
				for path := range releaseFiles(d.Name, "1.0.0") {
					p.paths = append(p.paths, path)
				}
			} else {
				rel, err := r.repo.State.Role(ctx, shard, layout.ReleasesRole(d.Name))
				if err != nil {
					return nil, nil, err
				}
				md, err := tufmeta.Decode[metadata.TargetsType](rel.Data)
				if err != nil {
					return nil, nil, err
				}
				p.paths = slices.Collect(maps.Keys(md.Signed.Targets))
			}
			out = append(out, p)
		}
	}
	slices.SortFunc(out, func(a, b baseProject) int { return strings.Compare(a.name, b.name) })
	return out, keys, nil
}

// baseRepo is one baseline repository being built: the files written so
// far and the snapshot entries.
type baseRepo struct {
	label    string
	dir      string
	snapMeta map[string]*metadata.MetaFiles
	keys     map[string]*signing.Key
	sizes    map[string]int
	version  int64 // snapshot and timestamp version
	bins     int
}

func baselineKey(role string) *signing.Key {
	seed := sha256.Sum256([]byte("hallmark-bench baseline " + role))
	return signing.FromSeed(seed[:], "baseline "+role)
}

func writeSigned[T metadata.Roles](b *baseRepo, name string, md *metadata.Metadata[T], key *signing.Key) ([]byte, error) {
	md.Signatures = nil
	if err := tufmeta.Sign(md, key); err != nil {
		return nil, err
	}
	data, err := md.ToBytes(false)
	if err != nil {
		return nil, err
	}
	file := name + ".json"
	if name != layout.RoleTimestamp {
		ver := md.Signed
		file = fmt.Sprintf("%d.%s.json", versionOf(ver), name)
	}
	b.sizes[name] = len(data)
	return data, os.WriteFile(filepath.Join(b.dir, "metadata", file), data, 0o644)
}

func versionOf(signed any) int64 {
	switch s := signed.(type) {
	case metadata.RootType:
		return s.Version
	case metadata.TargetsType:
		return s.Version
	case metadata.SnapshotType:
		return s.Version
	case metadata.TimestampType:
		return s.Version
	}
	return 0
}

// buildBaseline writes a baseline repository of the projects. bins = 0
// builds the flat shape.
func buildBaseline(dir, label string, projects []baseProject, keys map[string]*metadata.Key, bins int) (*baseRepo, []byte, error) {
	b := &baseRepo{label: label, dir: dir, snapMeta: map[string]*metadata.MetaFiles{}, keys: map[string]*signing.Key{}, sizes: map[string]int{}, version: 1, bins: bins}
	if err := os.MkdirAll(filepath.Join(dir, "metadata"), 0o755); err != nil {
		return nil, nil, err
	}
	exp := time.Now().Add(30 * 24 * time.Hour)
	for _, role := range []string{"root", "targets", "snapshot", "timestamp", "claim", "new"} {
		b.keys[role] = baselineKey(role)
	}
	root := metadata.Root(exp)
	for _, role := range []string{"root", "targets", "snapshot", "timestamp"} {
		k := b.keys[role].Public()
		root.Signed.Keys[k.ID()] = k.TUF()
		root.Signed.Roles[role] = &metadata.Role{KeyIDs: []string{k.ID()}, Threshold: 1}
	}
	rootData, err := writeSigned(b, "root", root, b.keys["root"])
	if err != nil {
		return nil, nil, err
	}
	targets := metadata.Targets(exp)
	targets.Signed.Delegations = &metadata.Delegations{Keys: map[string]*metadata.Key{}}
	for _, bin := range []string{"claim", "new"} {
		k := b.keys[bin].Public()
		targets.Signed.Delegations.Keys[k.ID()] = k.TUF()
		name := map[string]string{"claim": "claimed", "new": "new"}[bin]
		targets.Signed.Delegations.Roles = append(targets.Signed.Delegations.Roles, metadata.DelegatedRole{
			Name: name, KeyIDs: []string{k.ID()}, Threshold: 1, Paths: layout.BinPaths()})
	}
	if err := b.put("targets", targets, b.keys["targets"]); err != nil {
		return nil, nil, err
	}
	if err := b.put("claimed", metadata.Targets(exp), b.keys["claim"]); err != nil {
		return nil, nil, err
	}
	newRole := metadata.Targets(exp)
	if bins == 0 {
		newRole.Signed.Delegations = projectDelegations(projects, keys)
	} else {
		members := make([][]baseProject, bins)
		for _, p := range projects {
			seen := map[int]bool{}
			for _, path := range p.paths {
				if i := binOf(path, bins); !seen[i] {
					seen[i] = true
					members[i] = append(members[i], p)
				}
			}
		}
		k := b.keys["new"].Public()
		newRole.Signed.Delegations = &metadata.Delegations{Keys: map[string]*metadata.Key{k.ID(): k.TUF()}}
		for i := range bins {
			name := fmt.Sprintf("bin-%03x", i)
			newRole.Signed.Delegations.Roles = append(newRole.Signed.Delegations.Roles, metadata.DelegatedRole{
				Name: name, KeyIDs: []string{k.ID()}, Threshold: 1, PathHashPrefixes: binPrefixes(i, bins)})
			bin := metadata.Targets(exp)
			bin.Signed.Delegations = projectDelegations(members[i], keys)
			if err := b.put(name, bin, b.keys["new"]); err != nil {
				return nil, nil, err
			}
		}
	}
	if err := b.put("new", newRole, b.keys["new"]); err != nil {
		return nil, nil, err
	}
	for _, p := range projects {
		b.snapMeta[layout.OwnersRole(p.name)+".json"] = metadata.MetaFile(p.owners)
		b.snapMeta[layout.ReleasesRole(p.name)+".json"] = metadata.MetaFile(p.releases)
	}
	return b, rootData, b.publish(exp)
}

func projectDelegations(projects []baseProject, keys map[string]*metadata.Key) *metadata.Delegations {
	d := &metadata.Delegations{Keys: map[string]*metadata.Key{}}
	for _, p := range projects {
		for _, id := range p.keyIDs {
			d.Keys[id] = keys[id]
		}
		d.Roles = append(d.Roles, metadata.DelegatedRole{Name: layout.OwnersRole(p.name), KeyIDs: p.keyIDs,
			Threshold: p.threshold, Terminating: true, Paths: layout.DelegationPaths(p.name)})
	}
	return d
}

func (b *baseRepo) put(name string, md *tufmeta.Targets, key *signing.Key) error {
	if _, err := writeSigned(b, name, md, key); err != nil {
		return err
	}
	b.snapMeta[name+".json"] = metadata.MetaFile(md.Signed.Version)
	return nil
}

// publish signs a new snapshot and timestamp over the current entries.
func (b *baseRepo) publish(exp time.Time) error {
	snap := metadata.Snapshot(exp)
	snap.Signed.Version = b.version
	snap.Signed.Meta = b.snapMeta
	data, err := writeSigned(b, "snapshot", snap, b.keys["snapshot"])
	if err != nil {
		return err
	}
	ts := metadata.Timestamp(exp)
	ts.Signed.Version = b.version
	sum := sha256.Sum256(data)
	ts.Signed.Meta["snapshot.json"] = &metadata.MetaFiles{Version: b.version, Length: int64(len(data)), Hashes: metadata.Hashes{"sha256": sum[:]}}
	_, err = writeSigned(b, "timestamp", ts, b.keys["timestamp"])
	return err
}

// baselineHandler serves a baseline: its own files first, project roles
// from the Hallmark repository's blobs (the same bytes), and the targets.
func baselineHandler(dir, blobs string, shards int) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		p := strings.TrimPrefix(req.URL.Path, "/")
		if strings.Contains(p, "..") {
			http.NotFound(w, req)
			return
		}
		if strings.HasPrefix(p, "metadata/") {
			file := strings.TrimPrefix(p, "metadata/")
			if _, err := os.Stat(filepath.Join(dir, "metadata", file)); err == nil {
				http.ServeFile(w, req, filepath.Join(dir, "metadata", file))
				return
			}
			_, role, ok := strings.Cut(strings.TrimSuffix(file, ".json"), ".")
			if !ok {
				http.NotFound(w, req)
				return
			}
			project := strings.TrimSuffix(role, ".releases")
			http.ServeFile(w, req, filepath.Join(blobs, "metadata", layout.ShardOf(project, shards), file))
			return
		}
		http.ServeFile(w, req, filepath.Join(blobs, filepath.FromSlash(p)))
	})
}

// tufFetcher is go-tuf's fetcher over a counted HTTP client.
type tufFetcher struct{ hc *http.Client }

func (f tufFetcher) DownloadFile(u string, maxLength int64, _ time.Duration) ([]byte, error) {
	resp, err := f.hc.Get(u)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, &metadata.ErrDownloadHTTP{StatusCode: resp.StatusCode, URL: u}
	}
	var buf bytes.Buffer
	n, err := buf.ReadFrom(http.MaxBytesReader(nil, resp.Body, maxLength))
	if err != nil {
		var mb *http.MaxBytesError
		if errors.As(err, &mb) {
			return nil, &metadata.ErrDownloadLengthMismatch{Msg: fmt.Sprintf("%s is longer than the client's limit of %d bytes", u, maxLength)}
		}
		return nil, err
	}
	_ = n
	return buf.Bytes(), nil
}

// tufGet is a go-tuf updater session: refresh, then fetch the project's
// index and one release file.
func tufGet(url string, root []byte, local string, cnt *counter, project, file string, limits bool) error {
	cfg, err := config.New(url+"/metadata/", root)
	if err != nil {
		return err
	}
	cfg.LocalMetadataDir = filepath.Join(local, "metadata")
	cfg.LocalTargetsDir = filepath.Join(local, "targets")
	cfg.RemoteTargetsURL = url + "/targets/"
	cfg.PrefixTargetsWithHash = true
	cfg.Fetcher = tufFetcher{hc: cnt.httpClient()}
	if !limits {
		cfg.SnapshotMaxLength, cfg.TargetsMaxLength = 1<<31, 1<<31
	}
	if err := cfg.EnsurePathsExist(); err != nil {
		return err
	}
	if b, err := os.ReadFile(filepath.Join(cfg.LocalMetadataDir, "root.json")); err == nil {
		cfg.LocalTrustedRoot = b
	}
	up, err := updater.New(cfg)
	if err != nil {
		return err
	}
	if err := up.Refresh(); err != nil {
		return err
	}
	for _, path := range []string{layout.IndexPath(project), file} {
		if path == "" {
			continue
		}
		tf, err := up.GetTargetInfo(path)
		if err != nil {
			return err
		}
		if _, _, err := up.DownloadTarget(tf, filepath.Join(local, "dl"), ""); err != nil {
			return err
		}
	}
	return nil
}

// runBaselines builds the baselines from repository r at N = n and
// measures go-tuf's client against them, with its default size limits and
// with the limits lifted (to count the bytes).
//
// With -only-shards, the projects the repository does not hold are added
// with fresh keys and version-1 roles: the client never fetches their roles,
// but they are in the baselines' snapshot and bins, as they would be.
func runBaselines(ctx context.Context, r *benchRepo, all []projectName, o *options, rs *results) error {
	n := len(all)
	start := time.Now()
	projects, keys, err := r.collect(ctx)
	if err != nil {
		return err
	}
	have := map[string]bool{}
	for _, p := range projects {
		have[p.name] = true
	}
	real := len(projects)
	for _, p := range all {
		if have[p.Name] {
			continue
		}
		pub := devKey(p, newSeed()).Public()
		keys[pub.ID()] = pub.TUF()
		bp := baseProject{name: p.Name, keyIDs: []string{pub.ID()}, threshold: 1, owners: 1, releases: 1, paths: []string{layout.IndexPath(p.Name)}}
		for path := range releaseFiles(p.Name, "1.0.0") {
			bp.paths = append(bp.paths, path)
		}
		projects = append(projects, bp)
	}
	slices.SortFunc(projects, func(a, b baseProject) int { return strings.Compare(a.name, b.name) })
	logf("baselines N=%d: %d projects from the repository, %d added, in %s", n, real, len(projects)-real, time.Since(start).Round(time.Millisecond))
	target := r.names[r.built/2]
	file := firstFile(target.Name, "1.0.0")
	type variant struct {
		label  string
		bins   int
		subset func(baseProject) bool
	}
	var variants []variant
	if o.baseFlat {
		variants = append(variants, variant{label: "single repo, flat (Hallmark S=1 shape)"})
	}
	for _, b := range o.baseBins {
		variants = append(variants, variant{label: fmt.Sprintf("single repo, %d hash bins", b), bins: b})
	}
	if n > 100_000 {
		sh := layout.ShardOf(target.Name, 16)
		variants = append(variants, variant{label: "Hallmark S=16 shape, one shard (synthesized)", subset: func(p baseProject) bool { return layout.ShardOf(p.name, 16) == sh }})
	}
	for vi, v := range variants {
		ps := projects
		if v.subset != nil {
			ps = slices.DeleteFunc(slices.Clone(projects), func(p baseProject) bool { return !v.subset(p) })
		}
		dir := filepath.Join(o.work, fmt.Sprintf("baseline-N%d-%d", n, vi))
		os.RemoveAll(dir)
		t := time.Now()
		b, root, err := buildBaseline(dir, v.label, ps, keys, v.bins)
		if err != nil {
			return err
		}
		logf("baseline %q N=%d: built in %s: snapshot %d B, new %d B", v.label, n, time.Since(t).Round(time.Millisecond), b.sizes["snapshot"], b.sizes["new"])
		// The upload that follows the first get is to another project of
		// the repository that the baseline holds.
		other := target
		for _, p := range r.names[:r.built] {
			if p.Name != target.Name && (v.subset == nil || v.subset(baseProject{name: p.Name})) {
				other = p
				break
			}
		}
		if err := measureBaseline(ctx, r, b, root, target, other, file, n, rs); err != nil {
			return fmt.Errorf("%s: %w", v.label, err)
		}
		os.RemoveAll(dir)
	}
	return nil
}

func measureBaseline(ctx context.Context, r *benchRepo, b *baseRepo, root []byte, target, other projectName, file string, n int, rs *results) error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	hs := &http.Server{Handler: baselineHandler(b.dir, filepath.Join(r.dataDir(), "blobs"), r.shards)}
	go hs.Serve(ln)
	defer hs.Close()
	url := "http://" + ln.Addr().String()
	shape := map[string]any{"snapshot": b.sizes["snapshot"], "new": b.sizes["new"], "targets": b.sizes["targets"], "root": b.sizes["root"]}
	if bs := b.binSize(target.Name); bs > 0 {
		shape["bin_of_index"] = bs
	}
	cnt := &counter{}
	// go-tuf with its default limits: does it work at all?
	home, err := os.MkdirTemp(b.dir, "limits-")
	if err != nil {
		return err
	}
	err = tufGet(url, root, home, cnt, target.Name, file, true)
	rs.add("baseline", map[string]any{"N": n, "impl": b.label, "shape": shape, "default_limits_error": errString(err)})
	home, err = os.MkdirTemp(b.dir, "client-")
	if err != nil {
		return err
	}
	var res []clientResult
	step := func(name string, f string) {
		cnt.reset()
		t := time.Now()
		err := tufGet(url, root, home, cnt, target.Name, f, false)
		res = append(res, cnt.result(name, t, err))
	}
	step(caseFirst, file)
	step(caseRefresh, "")
	// One release of another project: its releases role, the snapshot and
	// the timestamp change (in a single repository, any upload anywhere).
	if err := b.bumpRelease(ctx, r, other); err != nil {
		return err
	}
	step(caseUpload, "")
	for _, c := range res {
		rs.add("client", map[string]any{"N": n, "S": 1, "impl": b.label, "result": c})
	}
	logf("baseline %q N=%d: %s", b.label, n, summarize(res))
	return nil
}

// binSize is the size of the hash bin that holds the project's index.
func (b *baseRepo) binSize(project string) int {
	for name, size := range b.sizes {
		if name == fmt.Sprintf("bin-%03x", binOf(layout.IndexPath(project), b.bins)) {
			return size
		}
	}
	return 0
}

// go-tuf (v2.4.2) matches path_hash_prefixes against the base64url form of
// sha256(path), where the TUF specification says hex. The bins here follow
// go-tuf, the client measured: two base64 digits are 12 bits, 4,096
// buckets, and a bin of a smaller count lists the buckets it covers.
const base64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

func binOf(path string, bins int) int {
	sum := sha256.Sum256([]byte(path))
	bucket := int(sum[0])<<4 | int(sum[1])>>4
	return bucket * bins / 4096
}

func binPrefixes(i, bins int) []string {
	var out []string
	for b := i * 4096 / bins; b < (i+1)*4096/bins; b++ {
		out = append(out, string([]byte{base64URL[b>>6], base64URL[b&63]}))
	}
	return out
}

// bumpRelease publishes, in the baseline, the next releases role of a
// project (signed by the project's key, as Hallmark's own upload is), then
// a new snapshot and timestamp.
func (b *baseRepo) bumpRelease(ctx context.Context, r *benchRepo, p projectName) error {
	i := slices.IndexFunc(r.names[:r.built], func(q projectName) bool { return q.Name == p.Name })
	c, err := r.nextRelease(ctx, i)
	if err != nil {
		return err
	}
	data, err := c.Releases.ToBytes(false)
	if err != nil {
		return err
	}
	file := fmt.Sprintf("%d.%s.json", c.Releases.Signed.Version, layout.ReleasesRole(p.Name))
	if err := os.WriteFile(filepath.Join(b.dir, "metadata", file), data, 0o644); err != nil {
		return err
	}
	b.snapMeta[layout.ReleasesRole(p.Name)+".json"] = metadata.MetaFile(c.Releases.Signed.Version)
	b.version++
	return b.publish(time.Now().Add(30 * 24 * time.Hour))
}
