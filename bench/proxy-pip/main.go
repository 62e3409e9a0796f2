// Command proxy-pip measures `pip install` of a 10-file release through
// `hallmark proxy` against the same install straight from the server's blob
// URLs (a plain PEP 503 index this program writes and serves, whose links
// redirect to the blobs), in one run on one machine:
//
//   - cold: a new proxy with an empty verified-file cache and no cached
//     metadata (a fresh downloader home with the trust pinned);
//   - warm: the same proxy again (metadata and the verified file cached).
//
// Then, without pip, the two requests pip makes (the project page and the
// wheel) are timed from Go against another fresh proxy, cold and warm, and
// against the plain index.
//
// pip runs with --no-cache-dir in one throwaway venv, and the package is
// uninstalled between runs, so every run downloads the wheel. The release
// has 10 files: one pure-Python wheel pip picks, eight wheels for other
// platforms and an sdist, each carrying -size bytes of random data.
//
//	go run ./bench/proxy-pip -runs 5
package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"hallmark.dev/hallmark/internal/pkgbuild"
	"hallmark.dev/hallmark/layout"
)

const (
	project = "bench-pkg"
	version = "1.0.0"
)

// otherTags are wheel tags pip on Linux never picks.
var otherTags = []string{"cp311-cp311-win_amd64", "cp311-cp311-win32", "cp311-cp311-macosx_11_0_arm64",
	"cp311-cp311-macosx_10_9_x86_64", "cp310-cp310-win_amd64", "cp39-cp39-win_amd64", "cp38-cp38-win_amd64", "cp312-cp312-win_amd64"}

type bench struct {
	work, bin, python string
	pyEnv             []string
	repo              string
	size              int
}

func main() {
	runs := flag.Int("runs", 5, "installs per mode")
	size := flag.Int("size", 1<<20, "bytes of random data in each file")
	flag.Parse()
	if err := run(context.Background(), *runs, *size); err != nil {
		fmt.Fprintln(os.Stderr, "proxy-pip:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, runs, size int) error {
	work, err := os.MkdirTemp("", "proxy-pip-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	b := &bench{work: work, bin: filepath.Join(work, "hallmark"), size: size}
	step("building hallmark")
	if err := command(ctx, nil, "", "go", "build", "-o", b.bin, "./cmd/hallmark"); err != nil {
		return err
	}
	stop, err := b.startServer(ctx)
	if err != nil {
		return err
	}
	defer stop()
	files, err := b.publish(ctx)
	if err != nil {
		return err
	}
	plain, err := b.plainIndex(files)
	if err != nil {
		return err
	}
	step("creating the venv")
	if err := b.venv(ctx); err != nil {
		return err
	}
	results := map[string][]time.Duration{}
	for i := range runs {
		step(fmt.Sprintf("run %d of %d", i+1, runs))
		home, err := b.downloader(ctx, i)
		if err != nil {
			return err
		}
		proxyURL, stopProxy, err := b.startProxy(ctx, home)
		if err != nil {
			return err
		}
		for _, m := range []struct{ name, index string }{
			{"proxy, cold", proxyURL + "/pypi/simple/"}, {"proxy, warm", proxyURL + "/pypi/simple/"},
			{"blob URLs, first", plain}, {"blob URLs, again", plain},
		} {
			d, err := b.pipInstall(ctx, m.index)
			if err != nil {
				stopProxy()
				return fmt.Errorf("%s: %w", m.name, err)
			}
			results[m.name] = append(results[m.name], d)
		}
		stopProxy()

		// The same two requests pip makes (the project page, the wheel),
		// timed from Go without pip, against another fresh proxy.
		home, err = b.downloader(ctx, runs+i)
		if err != nil {
			return err
		}
		proxyURL, stopProxy, err = b.startProxy(ctx, home)
		if err != nil {
			return err
		}
		wheel := pkgbuild.Module(project) + "-" + version + "-py3-none-any.whl"
		for _, m := range []struct{ name, page, file string }{
			{"GET page + wheel: proxy, cold", proxyURL + "/pypi/simple/" + project + "/", proxyURL + "/files/" + project + "/" + version + "/" + wheel},
			{"GET page + wheel: proxy, warm", proxyURL + "/pypi/simple/" + project + "/", proxyURL + "/files/" + project + "/" + version + "/" + wheel},
			{"GET page + wheel: blob URLs", plain + project + "/", strings.TrimSuffix(plain, "simple/") + "files/" + files[wheel] + "/" + wheel},
		} {
			start := time.Now()
			for _, u := range []string{m.page, m.file} {
				if err := fetch(ctx, u); err != nil {
					stopProxy()
					return fmt.Errorf("%s: %w", m.name, err)
				}
			}
			results[m.name] = append(results[m.name], time.Since(start))
		}
		stopProxy()
	}
	fmt.Printf("pip install of %s %s (10 files of %d KiB random data each; pip downloads the one wheel it picks), %d runs each\n\n", project, version, size>>10, runs)
	fmt.Println("| Index | median | min | max |")
	fmt.Println("| --- | --- | --- | --- |")
	for _, name := range []string{"proxy, cold", "proxy, warm", "blob URLs, first", "blob URLs, again",
		"GET page + wheel: proxy, cold", "GET page + wheel: proxy, warm", "GET page + wheel: blob URLs"} {
		ds := results[name]
		slices.Sort(ds)
		fmt.Printf("| %s | %s | %s | %s |\n", name, ms(ds[len(ds)/2]), ms(ds[0]), ms(ds[len(ds)-1]))
	}
	return nil
}

func ms(d time.Duration) string { return fmt.Sprintf("%.0f ms", float64(d)/float64(time.Millisecond)) }

func step(s string) { fmt.Fprintln(os.Stderr, "==>", s) }

func command(ctx context.Context, env []string, dir, prog string, args ...string) error {
	cmd := exec.CommandContext(ctx, prog, args...)
	cmd.Env, cmd.Dir = env, dir
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("%s %s: %v\n%s", prog, strings.Join(args, " "), err, out)
	}
	return nil
}

func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// waitOK waits until u answers 200.
func waitOK(u string) error {
	for range 600 {
		if resp, err := http.Get(u); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("%s did not answer", u)
}

// startProcess starts the hallmark binary with args and env; stop ends it.
func (b *bench) startProcess(env []string, args ...string) (stop func(), err error) {
	cmd := exec.Command(b.bin, args...)
	cmd.Env = env
	var log bytes.Buffer
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	return func() { cmd.Process.Signal(os.Interrupt); cmd.Wait() }, nil
}

func (b *bench) startServer(ctx context.Context) (func(), error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	step("starting hallmark serve --dev on " + addr)
	stop, err := b.startProcess(os.Environ(), "serve", "--dev", "--data", filepath.Join(b.work, "data"), "--addr", addr)
	if err != nil {
		return nil, err
	}
	b.repo = "http://" + addr
	if err := waitOK(b.repo + "/healthz"); err != nil {
		stop()
		return nil, err
	}
	return stop, nil
}

// hallmark runs the CLI with home as HALLMARK_HOME.
func (b *bench) hallmark(ctx context.Context, home string, args ...string) error {
	env := append(os.Environ(), "HALLMARK_HOME="+home, "HALLMARK_PASSPHRASE=bench", "HALLMARK_REPO="+b.repo)
	return command(ctx, env, home, b.bin, args...)
}

// publish uploads the 10-file release and returns its files (name -> sha256).
func (b *bench) publish(ctx context.Context) (map[string]string, error) {
	step("publishing " + project + " " + version + " (10 files)")
	home := filepath.Join(b.work, "maintainer")
	dir := filepath.Join(b.work, "files")
	for _, d := range []string{home, dir} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, err
		}
	}
	for _, args := range [][]string{{"trust", b.repo, "--yes"}, {"key", "generate", "alice"}, {"project", "create", project}} {
		if err := b.hallmark(ctx, home, args...); err != nil {
			return nil, err
		}
	}
	random := func() []byte {
		p := make([]byte, b.size)
		rand.Read(p)
		return p
	}
	init := []byte("VERSION = '" + version + "'\n")
	upload := []string{"release", "upload", project, version}
	add := func(name string, data []byte) error {
		p := filepath.Join(dir, name)
		upload = append(upload, p)
		return os.WriteFile(p, data, 0o644)
	}
	for _, tag := range append([]string{"py3-none-any"}, otherTags...) {
		name, data, err := pkgbuild.Wheel(project, version, tag, init, map[string][]byte{"data.bin": random()})
		if err != nil {
			return nil, err
		}
		if err := add(name, data); err != nil {
			return nil, err
		}
	}
	name, data, err := pkgbuild.Sdist(project, version, append(init, "# "+hex.EncodeToString(random())+"\n"...))
	if err != nil {
		return nil, err
	}
	if err := add(name, data); err != nil {
		return nil, err
	}
	if err := b.hallmark(ctx, home, upload...); err != nil {
		return nil, err
	}
	files := map[string]string{}
	for _, p := range upload[4:] {
		data, err := os.ReadFile(p)
		if err != nil {
			return nil, err
		}
		files[filepath.Base(p)] = sha256hex(data)
	}
	return files, nil
}

// plainIndex writes and serves a PEP 503 index whose links are the
// server's blob URLs, and returns its URL.
func (b *bench) plainIndex(files map[string]string) (string, error) {
	dir := filepath.Join(b.work, "plain", "simple", project)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	var page strings.Builder
	page.WriteString("<!DOCTYPE html><html><body>\n")
	for name, sum := range files {
		// pip takes a file's name from its link, and blob URLs prefix it with
		// the hash, so each link redirects to its blob URL.
		fmt.Fprintf(&page, "<a href=\"/files/%s/%s#sha256=%s\">%s</a><br>\n", sum, name, sum, name)
	}
	page.WriteString("</body></html>\n")
	if err := os.WriteFile(filepath.Join(dir, "index.html"), []byte(page.String()), 0o644); err != nil {
		return "", err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	mux := http.NewServeMux()
	mux.Handle("/simple/", http.FileServer(http.Dir(filepath.Join(b.work, "plain"))))
	mux.HandleFunc("/files/{sum}/{name}", func(w http.ResponseWriter, r *http.Request) {
		u := b.repo + "/targets/" + layout.TargetBlobPath(layout.FilePath(project, version, r.PathValue("name")), r.PathValue("sum"))
		http.Redirect(w, r, u, http.StatusFound)
	})
	go http.Serve(ln, mux)
	return "http://" + ln.Addr().String() + "/simple/", nil
}

func (b *bench) venv(ctx context.Context) error {
	dir := filepath.Join(b.work, "venv")
	if err := command(ctx, os.Environ(), "", "python3", "-m", "venv", dir); err != nil {
		return err
	}
	b.python = filepath.Join(dir, "bin", "python")
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(strings.ToUpper(kv), "PIP_") {
			b.pyEnv = append(b.pyEnv, kv)
		}
	}
	b.pyEnv = append(b.pyEnv, "PIP_CONFIG_FILE=/dev/null", "PIP_DISABLE_PIP_VERSION_CHECK=1", "PIP_NO_INPUT=1")
	return nil
}

// downloader returns a new downloader home with the repository pinned and
// nothing cached.
func (b *bench) downloader(ctx context.Context, i int) (string, error) {
	home := filepath.Join(b.work, fmt.Sprintf("downloader-%d", i))
	if err := os.MkdirAll(home, 0o700); err != nil {
		return "", err
	}
	return home, b.hallmark(ctx, home, "trust", b.repo, "--yes")
}

func (b *bench) startProxy(ctx context.Context, home string) (string, func(), error) {
	addr, err := freeAddr()
	if err != nil {
		return "", nil, err
	}
	env := append(os.Environ(), "HALLMARK_HOME="+home, "HALLMARK_REPO="+b.repo)
	stop, err := b.startProcess(env, "proxy", "--listen", addr)
	if err != nil {
		return "", nil, err
	}
	if err := waitOK("http://" + addr + "/"); err != nil {
		stop()
		return "", nil, err
	}
	return "http://" + addr, stop, nil
}

// pipInstall times one install of the package (uninstalled first).
func (b *bench) pipInstall(ctx context.Context, index string) (time.Duration, error) {
	if err := command(ctx, b.pyEnv, "", b.python, "-m", "pip", "uninstall", "-y", project); err != nil {
		return 0, err
	}
	start := time.Now()
	err := command(ctx, b.pyEnv, "", b.python, "-m", "pip", "install", "--no-cache-dir", "--index-url", index, project)
	d := time.Since(start)
	if err != nil {
		return 0, err
	}
	return d, command(ctx, b.pyEnv, "", b.python, "-c", "import "+pkgbuild.Module(project))
}

// fetch GETs u and reads the whole answer.
func fetch(ctx context.Context, u string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", u, resp.Status)
	}
	return nil
}

func sha256hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}
