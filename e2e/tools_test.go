package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"hallmark.dev/hallmark/internal/testenv"
)

// needTool skips the test when ok is false, saying what is missing and how
// to install it, unless HALLMARK_TEST_ALL=1, in which case the test fails.
func needTool(t testing.TB, what, howToInstall string, ok bool) {
	t.Helper()
	testenv.NeedTool(t, what, howToInstall, ok)
}

// needNodeProject returns the node binary and the absolute directory of the
// Node project dir (below e2e/), skipping or failing through needTool when
// node or the project's installed dependencies are missing.
func needNodeProject(t testing.TB, dir string) (node, abs string) {
	t.Helper()
	install := "run: cd e2e/" + dir + " && npm ci"
	node, err := exec.LookPath("node")
	needTool(t, "node (Node.js 20.17 or newer)", "install Node.js 20 and npm, then "+install, err == nil)
	abs, err = filepath.Abs(dir)
	if err != nil {
		t.Fatal(err)
	}
	_, err = os.Stat(filepath.Join(abs, "node_modules"))
	needTool(t, "e2e/"+dir+"/node_modules", install, err == nil)
	return node, abs
}
