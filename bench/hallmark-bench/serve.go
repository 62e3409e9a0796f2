package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"hallmark.dev/hallmark/layout"
)

// serveResult is one load run against one server.
type serveResult struct {
	Server    string  `json:"server"`
	Files     string  `json:"files"`
	Paths     int     `json:"paths"`
	Tool      string  `json:"tool"`
	Conns     int     `json:"conns"`
	Seconds   float64 `json:"seconds"`
	PerSecond float64 `json:"per_second"`
	MBps      float64 `json:"mb_per_second"`
	Errors    int64   `json:"errors"`
}

// serveBench compares `hallmark serve` on the built data directory with a
// throwaway nginx serving the same blob directory, then records the
// server's memory.
func serveBench(ctx context.Context, r *benchRepo, n int, o *options, rs *results) error {
	work, err := filepath.Abs(o.work)
	if err != nil {
		return err
	}
	bin := filepath.Join(work, "hallmark")
	logf("building %s", bin)
	if out, err := exec.CommandContext(ctx, "go", "build", "-o", bin, "hallmark.dev/hallmark/cmd/hallmark").CombinedOutput(); err != nil {
		return fmt.Errorf("go build ./cmd/hallmark (run the benchmark from the module root): %v\n%s", err, out)
	}
	blobs := filepath.Join(r.dataDir(), "blobs")
	meta, targets, err := samplePaths(blobs, r.names[:r.built], r.shards, 2000)
	if err != nil {
		return err
	}
	hm, err := startHallmark(ctx, bin, r.dataDir())
	if err != nil {
		return err
	}
	defer hm.stop()
	ng, ngErr := startNginx(ctx, blobs, work)
	if ngErr != nil {
		logf("nginx not available (%v): install it with 'apt-get install -y nginx' for the comparison", ngErr)
	} else {
		defer ng.stop()
	}
	rssStart := readRSS(hm.cmd.Process.Pid)
	for _, set := range []struct {
		name  string
		paths []string
	}{{"metadata", meta}, {"targets", targets}} {
		servers := []*proc{hm}
		if ng != nil {
			servers = append(servers, ng)
		}
		for _, s := range servers {
			// A short warm-up, then the measured run.
			if _, err := load(ctx, s.url, set.paths, o.serveConns, min(2*time.Second, o.serveTime), work); err != nil {
				return err
			}
			res, err := load(ctx, s.url, set.paths, o.serveConns, o.serveTime, work)
			if err != nil {
				return err
			}
			res.Server, res.Files, res.Paths = s.name, set.name, len(set.paths)
			rs.add("serve", map[string]any{"N": n, "S": r.shards, "result": res})
			logf("serve %s %s: %.0f req/s, %.1f MB/s, %d errors (%s, %d conns)", s.name, set.name, res.PerSecond, res.MBps, res.Errors, res.Tool, res.Conns)
		}
	}
	rss := readRSS(hm.cmd.Process.Pid)
	du := dirSize(r.dataDir())
	rs.add("memory", map[string]any{"N": n, "S": r.shards, "rss_after_start_kb": rssStart["VmRSS"], "rss_kb": rss["VmRSS"], "hwm_kb": rss["VmHWM"],
		"data_dir_bytes": du, "state_db_bytes": fileSize(filepath.Join(r.dataDir(), "state.db"))})
	logf("hallmark serve RSS: %d KB after start, %d KB after the load runs (peak %d KB); data directory %.1f GB", rssStart["VmRSS"], rss["VmRSS"], rss["VmHWM"], float64(du)/1e9)
	return nil
}

// samplePaths lists served paths of a random sample of projects: the
// metadata files of their shards and their own roles, and their targets.
func samplePaths(blobs string, names []projectName, shards, sample int) (meta, targets []string, err error) {
	rng := rand.New(rand.NewPCG(3, 4))
	seenShard := map[string]bool{}
	for _, k := range rng.Perm(len(names))[:min(sample, len(names))] {
		p := names[k].Name
		shard := layout.ShardOf(p, shards)
		dir := filepath.Join(blobs, "metadata", shard)
		if !seenShard[shard] {
			seenShard[shard] = true
			meta = append(meta, "/metadata/"+shard+"/timestamp.json")
			ents, err := os.ReadDir(dir)
			if err != nil {
				return nil, nil, err
			}
			for _, e := range ents {
				n := e.Name()
				// The current snapshot and bins are the most fetched; old
				// versions and other projects' roles come from the sample.
				if strings.Contains(n, ".snapshot.") || strings.Contains(n, ".new.") || strings.HasSuffix(n, ".targets.json") || strings.HasSuffix(n, ".root.json") || strings.Contains(n, ".claimed.") {
					meta = append(meta, "/metadata/"+shard+"/"+n)
				}
			}
		}
		for _, role := range []string{layout.OwnersRole(p), layout.ReleasesRole(p)} {
			if _, err := os.Stat(filepath.Join(dir, "1."+role+".json")); err == nil {
				meta = append(meta, "/metadata/"+shard+"/1."+role+".json")
			}
		}
		err := filepath.WalkDir(filepath.Join(blobs, "targets", p), func(path string, d os.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			rel, _ := filepath.Rel(blobs, path)
			targets = append(targets, "/"+filepath.ToSlash(rel))
			return nil
		})
		if err != nil {
			return nil, nil, err
		}
	}
	return meta, targets, nil
}

type proc struct {
	name string
	url  string
	cmd  *exec.Cmd
	log  *os.File
}

func (p *proc) stop() {
	p.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { p.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		p.cmd.Process.Kill()
		<-done
	}
	p.log.Close()
}

func freePort() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

func startProc(ctx context.Context, name, logPath, health string, cmd *exec.Cmd) (*proc, error) {
	lf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd.Stdout, cmd.Stderr = lf, lf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		lf.Close()
		return nil, err
	}
	p := &proc{name: name, cmd: cmd, log: lf}
	for range 600 {
		resp, err := http.Get(health)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return p, nil
			}
		}
		if ctx.Err() != nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	p.stop()
	return nil, fmt.Errorf("%s did not start; see %s", name, logPath)
}

// startHallmark runs `hallmark serve --data DIR` on a free 127.0.0.1 port.
func startHallmark(ctx context.Context, bin, data string) (*proc, error) {
	addr, err := freePort()
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, bin, "serve", "--data", data, "--addr", addr)
	p, err := startProc(ctx, "hallmark serve", filepath.Join(filepath.Dir(data), "serve.log"), "http://"+addr+"/healthz", cmd)
	if err != nil {
		return nil, err
	}
	p.url = "http://" + addr
	// Let the start-up repair and renewal pass finish before measuring.
	time.Sleep(3 * time.Second)
	return p, nil
}

// startNginx runs a throwaway nginx on 127.0.0.1 serving the blob directory
// at the same paths, with the same cache headers.
func startNginx(ctx context.Context, blobs, work string) (*proc, error) {
	bin, err := exec.LookPath("nginx")
	if err != nil {
		if _, serr := os.Stat("/usr/sbin/nginx"); serr != nil {
			return nil, err
		}
		bin = "/usr/sbin/nginx"
	}
	addr, err := freePort()
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(work, "nginx")
	if err := os.MkdirAll(filepath.Join(dir, "tmp"), 0o755); err != nil {
		return nil, err
	}
	// The workers run as the invoking user, who can read the data
	// directory (0700): Debian's default user cannot.
	conf := fmt.Sprintf(`daemon off;
user %[4]s;
worker_processes auto;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log;
events { worker_connections 4096; }
http {
  access_log off;
  sendfile on;
  tcp_nopush on;
  keepalive_requests 1000000;
  client_body_temp_path %[1]s/tmp; proxy_temp_path %[1]s/tmp; fastcgi_temp_path %[1]s/tmp;
  uwsgi_temp_path %[1]s/tmp; scgi_temp_path %[1]s/tmp;
  types { application/json json; }
  default_type application/octet-stream;
  server {
    listen %[2]s;
    root %[3]s;
    location = /healthz { return 200 "ok\n"; }
    location ~ /timestamp\.json$ { add_header Cache-Control "no-cache"; }
    location /metadata/ { add_header Cache-Control "public, max-age=31536000, immutable"; }
    location /targets/ { add_header Cache-Control "public, max-age=31536000, immutable"; }
  }
}
`, dir, addr, blobs, currentUser())
	cf := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(cf, []byte(conf), 0o644); err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, bin, "-p", dir, "-c", cf)
	p, err := startProc(ctx, "nginx", filepath.Join(dir, "stdout.log"), "http://"+addr+"/healthz", cmd)
	if err != nil {
		return nil, err
	}
	p.url = "http://" + addr
	return p, nil
}

var (
	wrkRPS = regexp.MustCompile(`Requests/sec:\s+([0-9.]+)`)
	wrkTPS = regexp.MustCompile(`Transfer/sec:\s+([0-9.]+)([KMG]?B)`)
	wrkErr = regexp.MustCompile(`Non-2xx or 3xx responses:\s+([0-9]+)`)
)

// load runs wrk (Debian package wrk) when installed, else a Go load
// generator, for d with conns connections, each request a random path.
func load(ctx context.Context, url string, paths []string, conns int, d time.Duration, work string) (serveResult, error) {
	res := serveResult{Conns: conns, Seconds: d.Seconds()}
	if wrk, err := exec.LookPath("wrk"); err == nil {
		res.Tool = "wrk"
		list := filepath.Join(work, "paths.txt")
		if err := os.WriteFile(list, []byte(strings.Join(paths, "\n")+"\n"), 0o644); err != nil {
			return res, err
		}
		script := filepath.Join(work, "paths.lua")
		lua := fmt.Sprintf(`local paths = {}
for line in io.lines(%q) do paths[#paths + 1] = line end
math.randomseed(os.time())
request = function() return wrk.format("GET", paths[math.random(#paths)]) end
`, list)
		if err := os.WriteFile(script, []byte(lua), 0o644); err != nil {
			return res, err
		}
		out, err := exec.CommandContext(ctx, wrk, "-t2", "-c"+strconv.Itoa(conns), "-d"+strconv.Itoa(int(d.Seconds()))+"s", "-s", script, url).CombinedOutput()
		if err != nil {
			return res, fmt.Errorf("wrk: %v\n%s", err, out)
		}
		if m := wrkRPS.FindSubmatch(out); m != nil {
			res.PerSecond, _ = strconv.ParseFloat(string(m[1]), 64)
		}
		if m := wrkTPS.FindSubmatch(out); m != nil {
			v, _ := strconv.ParseFloat(string(m[1]), 64)
			res.MBps = v * map[string]float64{"B": 1e-6, "KB": 1.024e-3, "MB": 1.048576, "GB": 1073.741824}[string(m[2])]
		}
		if m := wrkErr.FindSubmatch(out); m != nil {
			res.Errors, _ = strconv.ParseInt(string(m[1]), 10, 64)
		}
		return res, nil
	}
	res.Tool = "go"
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: conns, DisableCompression: true}}
	var reqs, errs, bytes atomic.Int64
	deadline := time.Now().Add(d)
	var wg sync.WaitGroup
	for c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(c), 9))
			for time.Now().Before(deadline) && ctx.Err() == nil {
				resp, err := hc.Get(url + paths[rng.IntN(len(paths))])
				if err != nil {
					errs.Add(1)
					continue
				}
				n, _ := io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				bytes.Add(n)
				reqs.Add(1)
				if resp.StatusCode != http.StatusOK {
					errs.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	res.PerSecond = float64(reqs.Load()) / d.Seconds()
	res.MBps = float64(bytes.Load()) / d.Seconds() / 1e6
	res.Errors = errs.Load()
	return res, nil
}

// readRSS returns the memory lines of /proc/PID/status, in KB.
func readRSS(pid int) map[string]int64 {
	out := map[string]int64{}
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return out
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok && strings.HasPrefix(k, "Vm") {
			n, _ := strconv.ParseInt(strings.Fields(v)[0], 10, 64)
			out[k] = n
		}
	}
	return out
}

func dirSize(dir string) int64 {
	var n int64
	filepath.WalkDir(dir, func(_ string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if fi, err := d.Info(); err == nil {
				n += fi.Size()
			}
		}
		return nil
	})
	return n
}

func fileSize(p string) int64 {
	fi, err := os.Stat(p)
	if err != nil {
		return 0
	}
	return fi.Size()
}

func currentUser() string {
	if u, err := user.Current(); err == nil {
		return u.Username
	}
	return "root"
}
