// Package testenv holds what tests of several packages share about their
// environment: how a test that needs a tool this machine lacks skips, or
// fails in CI.
package testenv

import (
	"os"
	"testing"
)

// AllEnv, when "1", turns every skip for a missing tool into a failure:
// CI sets it (see .ci/run) so that no test is silently left out there.
const AllEnv = "HALLMARK_TEST_ALL"

// NeedTool skips the test when ok is false, saying what is missing and how
// to install it, unless HALLMARK_TEST_ALL=1, in which case the test fails.
func NeedTool(t testing.TB, what, howToInstall string, ok bool) {
	t.Helper()
	if ok {
		return
	}
	if os.Getenv(AllEnv) == "1" {
		t.Fatalf("%s is missing and %s=1 forbids skipping; %s", what, AllEnv, howToInstall)
	}
	t.Skipf("%s is missing; %s (or set %s=1 to make this a failure)", what, howToInstall, AllEnv)
}
