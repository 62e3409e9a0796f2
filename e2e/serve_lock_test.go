package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// Two servers on one embedded data directory would each publish on their
// own: the second one must refuse to start, naming the first, and a
// first one killed with kill -9 must not leave the directory locked.
func TestSecondServerOnOneDataDirectoryIsRefused(t *testing.T) {
	needSQLite(t)
	first := StartServer(t)
	host, _ := os.Hostname()

	second := func() (string, error) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		out, err := exec.CommandContext(ctx, binary, "serve", "--dev", "--data", first.Data, "--addr", freeAddr(t)).CombinedOutput()
		return string(out), err
	}
	out, err := second()
	if err == nil {
		t.Fatalf("a second server on %s started:\n%s", first.Data, out)
	}
	pid := fmt.Sprint(first.cmd.Process.Pid)
	for _, want := range []string{"in use by process " + pid, "on host " + host, "started 20", "stop that server first (process " + pid + ")"} {
		if !strings.Contains(out, want) {
			t.Errorf("refusal does not say %q:\n%s", want, out)
		}
	}
	// The refused server changed nothing: the first one still serves.
	u := NewMaintainer(t, first, "alice")
	u.MustRun("project", "create", "lock-demo", "--key", "alice")

	// kill -9 leaves no lock behind: the kernel drops it with the process.
	first.Kill()
	first.Start()
	u.MustRun("versions", "lock-demo")
}
