package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
)

// readResults reads a results.jsonl file.
func readResults(path string) (*results, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	rs := &results{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		rs.records = append(rs.records, m)
	}
	return rs, sc.Err()
}

func num(m map[string]any, path ...string) float64 {
	var v any = m
	for _, k := range path {
		mm, ok := v.(map[string]any)
		if !ok {
			return 0
		}
		v = mm[k]
	}
	f, _ := v.(float64)
	return f
}

func str(m map[string]any, path ...string) string {
	var v any = m
	for _, k := range path {
		mm, ok := v.(map[string]any)
		if !ok {
			return ""
		}
		v = mm[k]
	}
	s, _ := v.(string)
	return s
}

func kb(b float64) string {
	if b >= 1e6 {
		return fmt.Sprintf("%.2f MB", b/1e6)
	}
	return fmt.Sprintf("%.1f KB", b/1e3)
}

// printTables prints the run's measurements as Markdown tables; the last
// record of each kind and key wins.
func printTables(w io.Writer, rs *results) {
	type row struct {
		key  string
		cols []string
	}
	tables := map[string]map[string]row{}
	add := func(table, key string, cols ...string) {
		if tables[table] == nil {
			tables[table] = map[string]row{}
		}
		tables[table][key] = row{key, cols}
	}
	for _, m := range rs.records {
		n, s := int(num(m, "N")), int(num(m, "S"))
		switch m["kind"] {
		case "build":
			add("build", fmt.Sprintf("%07d %04d", n, s), fmt.Sprint(n), fmt.Sprint(s), fmt.Sprint(int(num(m, "only_shards"))),
				fmt.Sprintf("%.0f", num(m, "published")), fmt.Sprintf("%.1f", num(m, "seconds")), fmt.Sprintf("%.0f", num(m, "per_second")),
				fmt.Sprintf("%.0f", num(m, "batches")))
		case "skip":
			add("skip", fmt.Sprintf("%07d %04d", n, s), fmt.Sprint(n), fmt.Sprint(s), fmt.Sprint(int(num(m, "projects_in_fullest_shard"))), kb(num(m, "bin_bytes_estimate")))
		case "client":
			impl := str(m, "impl")
			c := str(m, "result", "case")
			errs := str(m, "result", "error")
			if errs != "" {
				errs = "error: " + errs
			}
			add("client", fmt.Sprintf("%07d %s %s", n, impl, c), fmt.Sprint(n), impl, c, kb(num(m, "result", "meta_bytes")),
				fmt.Sprintf("%.0f", num(m, "result", "requests")), kb(num(m, "result", "wire_bytes")), fmt.Sprintf("%.1f", num(m, "result", "ms")), errs)
		case "shape":
			add("shape", fmt.Sprintf("%07d %04d", n, s), fmt.Sprint(n), fmt.Sprint(s), fmt.Sprint(int(num(m, "shape", "projects_in_shard"))),
				kb(num(m, "shape", "snapshot")), kb(num(m, "shape", "new_bin")), kb(num(m, "shape", "owners_role")+num(m, "shape", "releases_role")))
		case "baseline":
			add("baseline", fmt.Sprintf("%07d %s", n, str(m, "impl")), fmt.Sprint(n), str(m, "impl"), kb(num(m, "shape", "snapshot")), kb(num(m, "shape", "new")),
				kb(num(m, "shape", "bin_of_index")), str(m, "default_limits_error"))
		case "upload":
			add("upload", fmt.Sprintf("%07d %04d %03d", n, s, int(num(m, "result", "uploaders"))), fmt.Sprint(n), fmt.Sprint(s),
				fmt.Sprint(int(num(m, "result", "uploaders"))), fmt.Sprint(int(num(m, "result", "published"))), fmt.Sprintf("%.0f", num(m, "result", "per_second")),
				fmt.Sprintf("%.0f", num(m, "result", "p50_ms")), fmt.Sprintf("%.0f", num(m, "result", "p99_ms")), fmt.Sprintf("%.1f", num(m, "result", "changes_per_batch")),
				fmt.Sprintf("%d/%d", int(num(m, "result", "visible_ok")), int(num(m, "result", "visible_checked"))), fmt.Sprint(int(num(m, "result", "failed"))), load1(m))
		case "serve":
			add("serve", fmt.Sprintf("%07d %s %s", n, str(m, "result", "files"), str(m, "result", "server")), fmt.Sprint(n), fmt.Sprint(s), str(m, "result", "files"),
				str(m, "result", "server"), fmt.Sprintf("%.0f", num(m, "result", "per_second")), fmt.Sprintf("%.1f", num(m, "result", "mb_per_second")),
				fmt.Sprint(int(num(m, "result", "errors"))), str(m, "result", "tool"), load1(m))
		case "memory":
			add("memory", fmt.Sprintf("%07d %04d", n, s), fmt.Sprint(n), fmt.Sprint(s), fmt.Sprintf("%.0f", num(m, "rss_after_start_kb")/1024),
				fmt.Sprintf("%.0f", num(m, "rss_kb")/1024), fmt.Sprintf("%.0f", num(m, "hwm_kb")/1024), fmt.Sprintf("%.2f", num(m, "data_dir_bytes")/1e9))
		}
	}
	heads := []struct{ name, title, head string }{
		{"build", "Bulk build (Publisher.Submit, 512 submitters)", "| N | S | only shards | projects created | s | creates/s | batches |"},
		{"skip", "Not built: the fullest shard's new bin passes the 4 MiB role limit", "| N | S | projects in fullest shard | new bin (estimate) |"},
		{"shape", "Metadata of the measured project's shard", "| N | S | projects in shard | snapshot | new bin | project roles |"},
		{"client", "Client downloads", "| N | repository | case | metadata | requests | wire | ms | note |"},
		{"baseline", "Single-repository baselines (go-tuf metadata API)", "| N | baseline | snapshot | new | hash bin | go-tuf with default limits |"},
		{"upload", "Uploads through the HTTP API", "| N | S | uploaders | published | uploads/s | p50 ms | p99 ms | changes/batch | visible (checked) | failed | load |"},
		{"serve", "Serving", "| N | S | files | server | req/s | MB/s | errors | load generator | load |"},
		{"memory", "`hallmark serve` memory", "| N | S | RSS after start MB | RSS after load MB | peak MB | data dir GB |"},
	}
	for _, h := range heads {
		t := tables[h.name]
		if len(t) == 0 {
			continue
		}
		fmt.Fprintf(w, "\n### %s\n\n%s\n|%s\n", h.title, h.head, strings.Repeat(" --- |", strings.Count(h.head, "|")-1))
		keys := make([]string, 0, len(t))
		for k := range t {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			fmt.Fprintf(w, "| %s |\n", strings.Join(t[k].cols, " | "))
		}
	}
}

// load1 is the machine's 1-minute load average when a record was made.
func load1(m map[string]any) string {
	if f := strings.Fields(str(m, "loadavg")); len(f) > 0 {
		return f[0]
	}
	return "?"
}
