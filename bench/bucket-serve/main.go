// Command bucket-serve measures downloads served four ways, side by side:
// straight from an S3 bucket with anonymous reads (versitygw, as a CDN's
// origin would be), by 'hallmark serve --blobs s3://...' on PostgreSQL
// (which reads the bucket on every request), by 'hallmark serve' on a
// local blob directory, and by nginx on that directory.
//
//	go run ./bench/bucket-serve -data DATA_DIR -hallmark BINARY [-rounds 3] \
//	    -files "timestamp=/metadata/1/timestamp.json target=/targets/..."
//
// It starts a throwaway versitygw (posix backend) and PostgreSQL cluster
// (internal/s3test, internal/pgtest), a development repository of one
// shard on them ('hallmark migrate', then 'hallmark serve --dev --shards 1
// --no-witness', which
// writes its own metadata/0/ and metadata/trust.json to the bucket), then
// copies each named file of DATA_DIR/blobs into the bucket under the same
// path, with the headers the server gives every object (a path the
// repository already holds is refused: name another shard's files), and
// allows anonymous reads of metadata/ and targets/. Every server then
// serves the same bytes.
//
// Each round measures every server in turn (the order reversed every other
// round) with wrk as bench/serve-compare.sh does: 2 threads, 64
// connections, 3 s of warm-up, then 6 s measured. It prints one line per
// run: requests a second and the CPU time per request of the serving
// processes (user + system, read from /proc: versitygw; hallmark and
// versitygw, which it reads from; hallmark; nginx's master and workers),
// then a Markdown table of the medians. Traffic stays on 127.0.0.1.
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"log"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"hallmark.dev/hallmark/internal/pgtest"
	"hallmark.dev/hallmark/internal/s3test"
	"hallmark.dev/hallmark/store/s3blobs"
)

const (
	s3Port    = 18411 // hallmark serve --blobs s3://...
	localPort = 18412 // hallmark serve on the directory
	nginxPort = 18413
)

// file is one benchmarked file: a name for the report, its blob path.
type file struct{ name, path string }

// target is one way of serving: where to send requests, which processes
// do the work.
type target struct {
	name string
	base string // URL the file's path is appended to
	pids []int  // processes (and their children) whose CPU time is counted
}

func main() {
	data := flag.String("data", "", "data directory whose blobs/ holds the files (made by hallmark-bench)")
	bin := flag.String("hallmark", "", "the hallmark binary to serve with")
	rounds := flag.Int("rounds", 3, "rounds of measurements")
	files := flag.String("files", "", `files to measure, "NAME=/PATH ...", paths below the blob directory`)
	flag.Parse()
	if *data == "" || *bin == "" || *files == "" {
		fmt.Fprintln(os.Stderr, "bucket-serve: -data, -hallmark and -files are required")
		flag.Usage()
		os.Exit(2)
	}
	var fs []file
	for _, f := range strings.Fields(*files) {
		name, path, ok := strings.Cut(f, "=")
		if !ok || !strings.HasPrefix(path, "/metadata/") && !strings.HasPrefix(path, "/targets/") {
			log.Fatalf("bucket-serve: -files: %q is not NAME=/metadata/... or NAME=/targets/...", f)
		}
		fs = append(fs, file{name, path})
	}
	if err := run(context.Background(), *data, *bin, *rounds, fs); err != nil {
		log.Fatalf("bucket-serve: %v", err)
	}
}

func run(ctx context.Context, data, bin string, rounds int, files []file) error {
	blobs := filepath.Join(data, "blobs")
	work, err := os.MkdirTemp("", "bucket-serve-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)

	gw, err := s3test.Start(ctx)
	if err != nil {
		return err
	}
	defer gw.Stop()
	bucket, err := gw.NewBucket(ctx, "repo")
	if err != nil {
		return err
	}
	if err := gw.AllowPublicRead(ctx, bucket, "metadata", "targets"); err != nil {
		return err
	}
	gwPid, err := pidOf("versitygw", gw.Dir)
	if err != nil {
		return err
	}
	pg, err := pgtest.Start(ctx)
	if err != nil {
		return err
	}
	defer pg.Stop()
	db, err := pg.NewDatabase(ctx)
	if err != nil {
		return err
	}

	if out, err := exec.Command(bin, "migrate", "--database", db).CombinedOutput(); err != nil {
		return fmt.Errorf("hallmark migrate: %v\n%s", err, out)
	}
	s3srv, err := start(bin, gw.Env(), "serve", "--dev", "--shards", "1", "--no-witness", "--data", filepath.Join(work, "s3-data"),
		"--database", db, "--blobs", bucket.URL, "--addr", addr(s3Port))
	if err != nil {
		return err
	}
	defer stop(s3srv)
	if err := copyFiles(ctx, gw, bucket.URL, blobs, files); err != nil {
		return err
	}
	local, err := start(bin, nil, "serve", "--data", data, "--addr", addr(localPort))
	if err != nil {
		return err
	}
	defer stop(local)
	ngx, err := startNginx(work, blobs)
	if err != nil {
		return err
	}
	defer stop(ngx)

	targets := []target{
		{"bucket (versitygw)", strings.TrimSuffix(bucket.HTTP, "/"), []int{gwPid}},
		{"hallmark --blobs s3://", "http://" + addr(s3Port), []int{s3srv.Process.Pid, gwPid}},
		{"hallmark, directory", "http://" + addr(localPort), []int{local.Process.Pid}},
		{"nginx", "http://" + addr(nginxPort), []int{ngx.Process.Pid}},
	}
	for _, t := range targets {
		for _, f := range files {
			if err := check(t.base + f.path); err != nil {
				return fmt.Errorf("%s: %w", t.name, err)
			}
		}
	}
	type key struct{ target, file string }
	results := map[key][]result{}
	for r := 1; r <= rounds; r++ {
		order := append([]target(nil), targets...)
		if r%2 == 0 {
			for i, j := 0, len(order)-1; i < j; i, j = i+1, j-1 {
				order[i], order[j] = order[j], order[i]
			}
		}
		for _, t := range order {
			for _, f := range files {
				res, err := measure(t, t.base+f.path)
				if err != nil {
					return fmt.Errorf("%s, %s: %w", t.name, f.name, err)
				}
				fmt.Printf("round=%d %q %s rps=%.0f cpu_us=%.1f split=%.1f non2xx=%d load=%s\n", r, t.name, f.name, res.rps, res.cpuUS, res.split, res.non2xx, loadavg())
				results[key{t.name, f.name}] = append(results[key{t.name, f.name}], res)
			}
		}
	}
	// What the server on the bucket answered other than 200 (it logs
	// every answer of 400 or more).
	stop(s3srv)
	codes := map[string]int{}
	var errs []string
	for _, line := range strings.Split(s3srv.out.String(), "\n") {
		if i := strings.Index(line, " status="); i >= 0 && strings.Contains(line, "msg=request") {
			codes[strings.Fields(line[i+8:])[0]]++
		} else if strings.Contains(line, "level=ERROR") && len(errs) < 5 {
			errs = append(errs, line)
		}
	}
	fmt.Printf("\nhallmark --blobs s3:// answered, besides 200: %v\n%s\n", codes, strings.Join(errs, "\n"))
	fmt.Println()
	fmt.Print("| File |")
	for _, t := range targets {
		fmt.Printf(" %s: req/s; CPU µs/req |", t.name)
	}
	fmt.Print("\n| --- |")
	for range targets {
		fmt.Print(" --- |")
	}
	fmt.Println()
	for _, f := range files {
		fmt.Printf("| %s |", f.name)
		for _, t := range targets {
			rs := results[key{t.name, f.name}]
			fmt.Printf(" %s; %s |", median(rs, func(r result) float64 { return r.rps }, "%.0f"), median(rs, func(r result) float64 { return r.cpuUS }, "%.0f"))
		}
		fmt.Println()
	}
	return nil
}

func addr(port int) string { return "127.0.0.1:" + strconv.Itoa(port) }

// proc is a process this program started.
type proc struct {
	*exec.Cmd
	done chan struct{} // closed when it has exited
	out  *bytes.Buffer // its output: read it only once done is closed
}

// start starts a server process and waits until it serves trust.json.
func start(bin string, env []string, args ...string) (*proc, error) {
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &proc{cmd, make(chan struct{}), &out}
	go func() { cmd.Wait(); close(p.done) }()
	a := args[len(args)-1]
	for deadline := time.Now().Add(3 * time.Minute); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		select {
		case <-p.done:
			return nil, fmt.Errorf("%s %s exited:\n%s", bin, strings.Join(args, " "), out.String())
		default:
		}
		if check("http://"+a+"/metadata/trust.json") == nil {
			return p, nil
		}
	}
	stop(p)
	return nil, fmt.Errorf("%s %s did not start within 3 minutes:\n%s", bin, strings.Join(args, " "), out.String())
}

func stop(p *proc) {
	p.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		p.Process.Kill()
		<-p.done
	}
}

// check fetches a URL and wants a 200.
func check(url string) error {
	resp, err := http.Get(url)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return nil
}

// copyFiles puts each file of the blob directory into the bucket under
// its path, through the server's own blob store (so with its headers),
// refusing paths the repository in the bucket already holds.
func copyFiles(ctx context.Context, gw *s3test.Gateway, url, blobs string, files []file) error {
	for _, kv := range gw.Env() {
		k, v, _ := strings.Cut(kv, "=")
		os.Setenv(k, v)
	}
	b, err := s3blobs.Open(ctx, url)
	if err != nil {
		return err
	}
	for _, f := range files {
		p := strings.TrimPrefix(f.path, "/")
		if ok, err := b.Exists(ctx, p); err != nil || ok {
			return fmt.Errorf("%s is in the bucket's repository already (%v): name files of a shard other than 0", p, err)
		}
		r, err := os.Open(filepath.Join(blobs, filepath.FromSlash(p)))
		if err != nil {
			return err
		}
		err = b.Put(ctx, p, r)
		r.Close()
		if err != nil {
			return err
		}
	}
	return nil
}

func startNginx(work, blobs string) (*proc, error) {
	dir := filepath.Join(work, "nginx")
	if err := os.MkdirAll(filepath.Join(dir, "tmp"), 0o755); err != nil {
		return nil, err
	}
	// As bench/serve-compare.sh configures it.
	conf := fmt.Sprintf(`daemon off;
user root;
worker_processes auto;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log;
events { worker_connections 4096; }
http {
  access_log off; sendfile on; tcp_nopush on; keepalive_requests 1000000;
  client_body_temp_path %[1]s/tmp; proxy_temp_path %[1]s/tmp; fastcgi_temp_path %[1]s/tmp;
  uwsgi_temp_path %[1]s/tmp; scgi_temp_path %[1]s/tmp;
  types { application/json json; } default_type application/octet-stream;
  server { listen %[2]s; root %[3]s;
    location ~ /timestamp\.json$ { add_header Cache-Control "no-cache"; }
    location /metadata/ { add_header Cache-Control "public, max-age=31536000, immutable"; }
    location /targets/ { add_header Cache-Control "public, max-age=31536000, immutable"; } }
}
`, dir, addr(nginxPort), blobs)
	if err := os.WriteFile(filepath.Join(dir, "nginx.conf"), []byte(conf), 0o644); err != nil {
		return nil, err
	}
	cmd := exec.Command("/usr/sbin/nginx", "-p", dir, "-c", filepath.Join(dir, "nginx.conf"))
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &proc{cmd, make(chan struct{}), nil}
	go func() { cmd.Wait(); close(p.done) }()
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if check("http://"+addr(nginxPort)+"/metadata/trust.json") == nil {
			return p, nil
		}
	}
	stop(p)
	return nil, fmt.Errorf("nginx did not start")
}

// result is one measured run.
type result struct {
	rps, cpuUS float64
	split      []float64 // CPU µs per request of each of the target's processes
	non2xx     int
}

// measure runs wrk on url (3 s of warm-up, 6 s measured) and the CPU time
// of t's processes meanwhile.
func measure(t target, url string) (result, error) {
	if out, err := exec.Command("wrk", "-t2", "-c64", "-d3s", url).CombinedOutput(); err != nil {
		return result{}, fmt.Errorf("wrk: %v\n%s", err, out)
	}
	t0 := make([]int64, len(t.pids))
	for i, p := range t.pids {
		t0[i] = cpuTicks(p)
	}
	out, err := exec.Command("wrk", "-t2", "-c64", "-d6s", url).CombinedOutput()
	t1 := make([]int64, len(t.pids))
	for i, p := range t.pids {
		t1[i] = cpuTicks(p)
	}
	if err != nil {
		return result{}, fmt.Errorf("wrk: %v\n%s", err, out)
	}
	var res result
	var n float64
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		switch {
		case len(f) >= 2 && f[0] == "Requests/sec:":
			res.rps, _ = strconv.ParseFloat(f[1], 64)
		case len(f) >= 3 && f[1] == "requests" && f[2] == "in":
			n, _ = strconv.ParseFloat(f[0], 64)
		case len(f) >= 5 && f[0] == "Non-2xx":
			res.non2xx, _ = strconv.Atoi(f[4])
		}
	}
	if n == 0 {
		// Every request timed out (wrk gives up after 2 s): no rate, no
		// CPU time per request; the run is reported, not dropped.
		return result{cpuUS: -1}, nil
	}
	for i := range t.pids {
		us := float64(t1[i]-t0[i]) / 100 * 1e6 / n // clock ticks of 1/100 s (USER_HZ)
		res.split = append(res.split, us)
		res.cpuUS += us
	}
	return res, nil
}

// cpuTicks sums the user and system time of a process and of its
// children.
func cpuTicks(parent int) int64 {
	var total int64
	eachProcess("stat", func(pid int, b []byte) bool {
		// Fields after the command's closing parenthesis: state, ppid, ...
		i := bytes.LastIndexByte(b, ')')
		f := strings.Fields(string(b[i+1:]))
		ppid, _ := strconv.Atoi(f[1])
		if pid == parent || ppid == parent {
			utime, _ := strconv.ParseInt(f[11], 10, 64)
			stime, _ := strconv.ParseInt(f[12], 10, 64)
			total += utime + stime
		}
		return true
	})
	return total
}

// eachProcess calls f with each process's id and its /proc/PID/file, until
// f returns false.
func eachProcess(file string, f func(pid int, b []byte) bool) {
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), file))
		if err != nil {
			continue
		}
		if !f(pid, b) {
			return
		}
	}
}

// pidOf finds the process of a program whose command line contains arg.
func pidOf(program, arg string) (int, error) {
	found := 0
	eachProcess("cmdline", func(pid int, b []byte) bool {
		args := strings.Split(string(b), "\x00")
		if filepath.Base(args[0]) == program && strings.Contains(string(b), arg) {
			found = pid
			return false
		}
		return true
	})
	if found == 0 {
		return 0, fmt.Errorf("no %s process with %s in its command line", program, arg)
	}
	return found, nil
}

func loadavg() string {
	b, _ := os.ReadFile("/proc/loadavg")
	return strings.Fields(string(b) + " ?")[0]
}

func median(rs []result, v func(result) float64, format string) string {
	var xs []float64
	for _, r := range rs {
		if x := v(r); x >= 0 { // -1: a run that had no answer
			xs = append(xs, x)
		}
	}
	sort.Float64s(xs)
	if len(xs) == 0 {
		return "-"
	}
	return fmt.Sprintf(format, xs[len(xs)/2])
}
