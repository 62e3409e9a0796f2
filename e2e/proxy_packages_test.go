package e2e

// Helpers for the proxy tests: tiny Python and npm packages built by hand
// (there is no internet to fetch build tools), the real pip in a throwaway
// venv, the real npm with its own cache, and a running `hallmark proxy`.

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"hallmark.dev/hallmark/internal/pkgbuild"
)

// pyModule is the module of the test's Python package ("hm_demo") for a
// version: importing it prints nothing, its VERSION says which was installed.
func pyModule(version string) []byte {
	return []byte(fmt.Sprintf("VERSION = %q\n", version))
}

// buildWheel writes a pure-Python wheel of dist with one module and returns
// its path.
func buildWheel(t testing.TB, dir, dist, version string) string {
	t.Helper()
	name, data, err := pkgbuild.Wheel(dist, version, "py3-none-any", pyModule(version), nil)
	if err != nil {
		t.Fatal(err)
	}
	return WriteFile(t, dir, name, data)
}

// buildSdist writes a source distribution of dist with the same module as
// its wheel and its own build backend, and returns its path.
func buildSdist(t testing.TB, dir, dist, version string) string {
	t.Helper()
	return buildSdistOf(t, dir, dist, version, pyModule(version))
}

// buildSdistOf is buildSdist with the module's source given.
func buildSdistOf(t testing.TB, dir, dist, version string, module []byte) string {
	t.Helper()
	name, data, err := pkgbuild.Sdist(dist, version, module)
	if err != nil {
		t.Fatal(err)
	}
	return WriteFile(t, dir, name, data)
}

// buildNpmPackage writes an npm tarball whose package.json names pkgName as
// file, and returns its path.
func buildNpmPackage(t testing.TB, dir, file, pkgName, version string) string {
	t.Helper()
	data, err := pkgbuild.NpmTarball(pkgName, version, fmt.Appendf(nil, "module.exports = { version: %q };\n", version))
	if err != nil {
		t.Fatal(err)
	}
	return WriteFile(t, dir, file, data)
}

// venv is a throwaway Python virtual environment with pip.
type venv struct {
	t      testing.TB
	dir    string
	python string
	env    []string
}

// newVenv creates a venv with the machine's python3 and its bundled pip,
// skipping (or failing under HALLMARK_TEST_ALL=1) without them.
func newVenv(t testing.TB) *venv {
	t.Helper()
	python, err := exec.LookPath("python3")
	needTool(t, "python3 (3.8 or newer, with the venv module)", "install it: apt-get install python3-venv python3-pip", err == nil)
	dir := filepath.Join(t.TempDir(), "venv")
	out, err := exec.Command(python, "-m", "venv", dir).CombinedOutput()
	needTool(t, "python3's venv module with pip ("+strings.TrimSpace(string(out))+")", "install it: apt-get install python3-venv python3-pip", err == nil)
	home := t.TempDir()
	// The machine's PIP_* settings (find-links, indexes) must not reach pip:
	// everything it installs has to come through the proxy.
	return &venv{t: t, dir: dir, python: filepath.Join(dir, "bin", "python"), env: append(environWithout("PIP_"),
		"HOME="+home, "PIP_CACHE_DIR="+filepath.Join(home, "pip-cache"), "PIP_CONFIG_FILE=/dev/null",
		"PIP_DISABLE_PIP_VERSION_CHECK=1", "PIP_NO_INPUT=1", "PYTHONDONTWRITEBYTECODE=1",
	)}
}

// run runs the venv's python with args and returns its exit code and output.
func (v *venv) run(args ...string) (int, string) {
	v.t.Helper()
	return runTool(v.t, v.env, "", v.python, args...)
}

// pip runs `python -m pip install ARGS` against index.
func (v *venv) pip(index string, args ...string) (int, string) {
	v.t.Helper()
	return v.run(append([]string{"-m", "pip", "install", "--index-url", index, "--timeout", "60"}, args...)...)
}

// uninstall removes dist from the venv, if installed.
func (v *venv) uninstall(dist string) {
	v.t.Helper()
	if code, out := v.run("-m", "pip", "uninstall", "-y", dist); code != 0 {
		v.t.Fatalf("pip uninstall %s: exit %d\n%s", dist, code, out)
	}
}

// imported returns the VERSION of module mod as the venv imports it, or ""
// when it is not installed.
func (v *venv) imported(mod string) string {
	v.t.Helper()
	code, out := v.run("-c", "import "+mod+"; print("+mod+".VERSION)")
	if code != 0 {
		return ""
	}
	return strings.TrimSpace(out)
}

// npmDir is a throwaway npm project with its own cache and empty user config.
type npmDir struct {
	t   testing.TB
	dir string
	npm string
	env []string
}

// newNpmDir returns an empty npm project, skipping (or failing under
// HALLMARK_TEST_ALL=1) without node and npm.
func newNpmDir(t testing.TB) *npmDir {
	t.Helper()
	npm, err := exec.LookPath("npm")
	needTool(t, "npm (Node.js 20 or newer)", "install Node.js 20 and npm", err == nil)
	_, err = exec.LookPath("node")
	needTool(t, "node (Node.js 20 or newer)", "install Node.js 20 and npm", err == nil)
	home := t.TempDir()
	d := &npmDir{t: t, dir: filepath.Join(home, "project"), npm: npm, env: append(environWithout("npm_config_"),
		"HOME="+home, "npm_config_cache="+filepath.Join(home, "npm-cache"),
		"npm_config_userconfig="+filepath.Join(home, "npmrc"), "npm_config_update_notifier=false",
	)}
	if err := os.MkdirAll(d.dir, 0o755); err != nil {
		t.Fatal(err)
	}
	WriteFile(t, d.dir, "package.json", []byte(`{"name": "proxy-test-app", "version": "1.0.0", "private": true}`))
	return d
}

// install runs `npm install` of specs against registry.
func (d *npmDir) install(registry string, specs ...string) (int, string) {
	d.t.Helper()
	args := append([]string{"install", "--registry", registry, "--no-audit", "--no-fund", "--fetch-retries", "0"}, specs...)
	return runTool(d.t, d.env, d.dir, d.npm, args...)
}

// required returns the version field of what require(name) returns, or ""
// when the package is not installed.
func (d *npmDir) required(name string) string {
	d.t.Helper()
	code, out := runTool(d.t, d.env, d.dir, "node", "-e", "console.log(require("+fmt.Sprintf("%q", name)+").version)")
	if code != 0 {
		return ""
	}
	return strings.TrimSpace(out)
}

// environWithout returns this process's environment without the variables
// whose names start with prefix (case-insensitively).
func environWithout(prefix string) []string {
	var out []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(strings.ToUpper(kv), strings.ToUpper(prefix)) {
			out = append(out, kv)
		}
	}
	return out
}

// runTool runs a program with the environment env in dir and returns its
// exit code and combined output.
func runTool(t testing.TB, env []string, dir, prog string, args ...string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, prog, args...)
	cmd.Env = env
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode(), string(out)
	}
	if err != nil {
		t.Fatalf("%s %s: %v", prog, strings.Join(args, " "), err)
	}
	return 0, string(out)
}

// Proxy is a running `hallmark proxy` process of a user.
type Proxy struct {
	URL string
	cmd *exec.Cmd
	log *processLog
}

// StartProxy starts `hallmark proxy --json` as user u on a free port and
// waits until it answers.
func StartProxy(t testing.TB, u *User) *Proxy {
	t.Helper()
	addr := freeAddr(t)
	p := &Proxy{URL: "http://" + addr, log: &processLog{}}
	p.cmd = exec.Command(binary, "proxy", "--listen", addr, "--json")
	p.cmd.Env = append(os.Environ(), u.Env...)
	p.cmd.Dir = u.Home
	p.cmd.Stdout, p.cmd.Stderr = p.log, p.log
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		p.cmd.Process.Signal(syscall.SIGTERM)
		p.cmd.Wait()
	})
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if resp, err := http.Get(p.URL + "/"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return p
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("hallmark proxy did not start; its output:\n%s", p.log)
	return nil
}

// Log returns the proxy's output so far.
func (p *Proxy) Log() string { return p.log.String() }
