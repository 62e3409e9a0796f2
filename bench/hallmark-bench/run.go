package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"strings"
	"time"

	"github.com/theupdateframework/go-tuf/v2/metadata"

	"hallmark.dev/hallmark/layout"
	"hallmark.dev/hallmark/signing"
	"hallmark.dev/hallmark/tufmeta"
)

// results collects every measurement of a run: appended to
// WORK/results.jsonl as it is made, and printed as tables at the end.
type results struct {
	file    *os.File
	cmd     string
	records []map[string]any
}

func (rs *results) add(kind string, fields map[string]any) {
	fields["kind"] = kind
	fields["time"] = time.Now().UTC().Format(time.RFC3339)
	fields["cmd"] = rs.cmd
	// Other work on the machine skews timings: keep the load beside them.
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		fields["loadavg"] = strings.Join(strings.Fields(string(b))[:3], " ")
	}
	b, err := json.Marshal(fields)
	if err != nil {
		logf("failed to record a result: %v", err)
		return
	}
	rs.file.Write(append(b, '\n'))
	// Keep the record as it reads back from the file (numbers as float64),
	// so the tables print the same from memory and from -report.
	var m map[string]any
	if json.Unmarshal(b, &m) == nil {
		rs.records = append(rs.records, m)
	}
}

func machine() map[string]any {
	m := map[string]any{"cores": runtime.NumCPU(), "go": runtime.Version()}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(l, "model name") {
				m["cpu"] = strings.TrimSpace(strings.SplitN(l, ":", 2)[1])
				break
			}
		}
	}
	if out, err := exec.Command("free", "-h").Output(); err == nil {
		m["free"] = string(out)
	}
	return m
}

func run(ctx context.Context, o *options) error {
	if err := os.MkdirAll(o.work, 0o755); err != nil {
		return err
	}
	f, err := os.OpenFile(filepath.Join(o.work, "results.jsonl"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	defer f.Close()
	rs := &results{file: f, cmd: "go run ./bench/hallmark-bench " + strings.Join(os.Args[1:], " ")}
	slices.Sort(o.ns)
	maxN := o.ns[len(o.ns)-1]
	names, source, err := loadNames(o.namesFile, maxN)
	if err != nil {
		return err
	}
	logf("names: %s", source)
	rs.add("run", map[string]any{"machine": machine(), "names": source})
	perDel, err := delegationBytes(names[:min(len(names), 2000)])
	if err != nil {
		return err
	}
	for _, s := range o.shards {
		if err := layout.CheckShardCount(s); err != nil {
			return err
		}
		sub, count := shardSubset(names, s, o.onlyShards)
		r, err := openRepo(ctx, o.work, s, sub, o.database)
		if err != nil {
			return err
		}
		reached := 0
		for _, n := range o.ns {
			target := count(n)
			if o.phases["build"] && r.built < target {
				if worst, size := largestBin(names[:n], s, perDel); size > tufmeta.MaxRoleSize && !o.force {
					logf("S=%d N=%d: skipped: the fullest shard would hold %d projects, a new-projects bin of ~%.1f MB, over the %d-byte role limit the publisher enforces", s, n, worst, float64(size)/1e6, tufmeta.MaxRoleSize)
					rs.add("skip", map[string]any{"N": n, "S": s, "projects_in_fullest_shard": worst, "bin_bytes_estimate": size, "limit": tufmeta.MaxRoleSize})
					break
				}
				st, err := profiled(o.profileDir, fmt.Sprintf("build-S%d-N%d", s, n), func() (buildStats, error) {
					return r.extend(ctx, target, o.submitters)
				})
				rs.add("build", map[string]any{"N": n, "S": s, "only_shards": o.onlyShards, "from": st.From, "seconds": st.Elapsed.Seconds(),
					"per_second": float64(st.To-st.From) / st.Elapsed.Seconds(), "batches": st.Batches, "published": st.Published,
					"error": errString(err)})
				if err != nil {
					r.close()
					return err
				}
				logf("S=%d N=%d: built %d projects in %s (%.0f/s, %d batches)", s, n, st.To-st.From, st.Elapsed.Round(time.Second), float64(st.To-st.From)/st.Elapsed.Seconds(), st.Batches)
			}
			if r.built < target {
				break
			}
			reached = n
			if o.phases["client"] {
				res, shape, err := measureHallmark(ctx, r, o.work)
				if err != nil {
					r.close()
					return fmt.Errorf("client measurement at S=%d N=%d: %w", s, n, err)
				}
				for _, c := range res {
					rs.add("client", map[string]any{"N": n, "S": s, "only_shards": o.onlyShards, "impl": fmt.Sprintf("hallmark S=%d", s), "result": c})
				}
				rs.add("shape", map[string]any{"N": n, "S": s, "shape": shape})
				logf("S=%d N=%d: client %s", s, n, summarize(res))
			}
			if o.phases["baseline"] && s == slices.Max(o.shards) {
				if err := runBaselines(ctx, r, names[:n], o, rs); err != nil {
					r.close()
					return fmt.Errorf("baselines at N=%d: %w", n, err)
				}
			}
			if o.phases["upload"] && (o.uploadAtAll || n == maxN) {
				if err := uploadBench(ctx, r, n, o, rs); err != nil {
					r.close()
					return fmt.Errorf("upload benchmark at S=%d N=%d: %w", s, n, err)
				}
			}
		}
		r.close()
		if o.phases["serve"] && s == slices.Max(o.shards) && reached > 0 {
			if err := serveBench(ctx, r, reached, o, rs); err != nil {
				return fmt.Errorf("serving benchmark: %w", err)
			}
		}
	}
	printTables(os.Stdout, rs)
	return nil
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func summarize(res []clientResult) string {
	var parts []string
	for _, c := range res {
		s := fmt.Sprintf("%s: %d B meta", c.Case, c.MetaBytes)
		if c.Error != "" {
			s += " (error: " + c.Error + ")"
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, "; ")
}

// profiled runs f with a CPU profile written to dir/name.pprof when dir is set.
func profiled[T any](dir, name string, f func() (T, error)) (T, error) {
	if dir == "" {
		return f()
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		var zero T
		return zero, err
	}
	pf, err := os.Create(filepath.Join(dir, name+".pprof"))
	if err != nil {
		var zero T
		return zero, err
	}
	defer pf.Close()
	if err := pprof.StartCPUProfile(pf); err != nil {
		var zero T
		return zero, err
	}
	defer pprof.StopCPUProfile()
	// The allocations of f alone: a heap profile before and after, for
	// go tool pprof -sample_index alloc_space -diff_base BEFORE AFTER.
	if err := writeHeap(filepath.Join(dir, name+".allocs-before")); err != nil {
		var zero T
		return zero, err
	}
	res, err := f()
	if herr := writeHeap(filepath.Join(dir, name+".allocs")); err == nil {
		err = herr
	}
	return res, err
}

func writeHeap(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := pprof.Lookup("allocs").WriteTo(f, 0); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// delegationBytes measures the average size a project's delegation adds to
// a bin (its key and its role entry), on a sample of names.
func delegationBytes(sample []projectName) (float64, error) {
	bin := metadata.Targets(time.Now().Add(time.Hour))
	empty, err := tufmeta.Encode(bin)
	if err != nil {
		return 0, err
	}
	for _, p := range sample {
		k := devKey(p, newSeed())
		tufmeta.SetProjectDelegation(bin, p.Name, tufmeta.NewDelegation([]signing.PublicKey{k.Public()}, 1))
	}
	full, err := tufmeta.Encode(bin)
	if err != nil {
		return 0, err
	}
	return float64(len(full)-len(empty)) / float64(len(sample)), nil
}

// largestBin returns the project count of the fullest shard and the bin
// size it implies.
func largestBin(names []projectName, shards int, perDel float64) (int, int) {
	count := map[string]int{}
	worst := 0
	for _, p := range names {
		s := layout.ShardOf(p.Name, shards)
		count[s]++
		worst = max(worst, count[s])
	}
	return worst, int(float64(worst)*perDel) + 400
}

// shardSubset returns, with -only-shards K, the names that fall in K shards
// spread over the shard ids, and a function from N to how many of the first
// N names that is. Shards share nothing online, so what a client of these
// shards downloads and what the publisher does per shard is what it would be
// in the full repository of N projects: only the other shards are left empty.
func shardSubset(names []projectName, shards, k int) ([]projectName, func(int) int) {
	if k <= 0 || k >= shards {
		return names, func(n int) int { return n }
	}
	ids := layout.ShardIDs(shards)
	in := map[string]bool{}
	for i := range k {
		in[ids[i*shards/k]] = true
	}
	var sub []projectName
	upto := make([]int, len(names)+1)
	for i, p := range names {
		if in[layout.ShardOf(p.Name, shards)] {
			sub = append(sub, p)
		}
		upto[i+1] = len(sub)
	}
	return sub, func(n int) int { return upto[min(n, len(names))] }
}
