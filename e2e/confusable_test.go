package e2e

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestAttackConfusableNames: typosquats of an existing project are refused
// at creation with a message naming the project they imitate, and nothing is
// created; the admins can allow one name through the signed settings.
func TestAttackConfusableNames(t *testing.T) {
	srv := StartServer(t)
	alice := NewMaintainer(t, srv, "alice")
	alice.MustRun("project", "create", "hello-world", "--key", "alice")

	mallory := NewMaintainer(t, srv, "mallory")
	for _, name := range []string{"he11o-world", "hel1o-world", "hellow0rld", "helloworld", "HELLO.W0RLD", "heIlo_world"} {
		t.Run(name, func(t *testing.T) {
			r := mallory.MustFail("looks like the existing project hello-world", "project", "create", name)
			if !strings.Contains(r.Stderr, "allow-confusable+=") {
				t.Errorf("the refusal does not say how admins allow a name:\n%s", r.Stderr)
			}
			mallory.MustFail("project not found", "versions", name)
		})
	}
	// A name that merely shares letters is no look-alike.
	mallory.MustRun("project", "create", "hello-worlds")

	// The admins allow one look-alike name; only that one.
	admin := NewUser(t, srv)
	admin.MustRun("trust", srv.URL, "--yes")
	keys := filepath.Join(srv.Data, "dev-keys")
	r := admin.MustRun("admin", "config", "--set", "allow-confusable+=hel1o-world", "--keys", keys, "--yes")
	if !strings.Contains(r.Stderr, "allow a project named hel1o-world") {
		t.Errorf("admin config does not explain the change:\n%s", r.Stderr)
	}
	mallory.MustRun("project", "create", "hel1o-world")
	mallory.MustFail("looks like the existing project", "project", "create", "he11o-world")
	admin.MustFail("is not valid", "admin", "config", "--set", "allow-confusable+=../x", "--keys", keys, "--yes")
}
