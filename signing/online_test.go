package signing_test

import (
	"testing"

	"hallmark.dev/hallmark/signing"
)

// Each shard's online keys are its own: if two shards shared a key, a
// timestamp of one shard would verify in another and could be replayed there.
func TestDeriveOnlineIsDeterministicAndDistinct(t *testing.T) {
	secret := seed(42)
	seen := map[string]string{}
	for _, shard := range []string{"0", "1", "f", "00", "01", "0f", "000", "fff"} {
		for _, role := range []string{"timestamp", "snapshot", "new"} {
			k, err := signing.DeriveOnline(secret, shard, role)
			if err != nil {
				t.Fatal(err)
			}
			again, _ := signing.DeriveOnline(secret, shard, role)
			if again.ID() != k.ID() {
				t.Errorf("DeriveOnline(%s, %s) is not deterministic", shard, role)
			}
			if prev, dup := seen[k.ID()]; dup {
				t.Errorf("DeriveOnline(%s, %s) gives the key of %s", shard, role, prev)
			}
			seen[k.ID()] = shard + "/" + role
		}
	}
	// Another secret, another repository: other keys.
	k1, _ := signing.DeriveOnline(seed(42), "0", "timestamp")
	k2, _ := signing.DeriveOnline(seed(43), "0", "timestamp")
	if k1.ID() == k2.ID() {
		t.Error("two secrets derive the same key")
	}
}

// The derivation input must not be ambiguous: shard "0|x" with role "y" must
// not be shard "0" with role "x|y".
func TestDeriveOnlineSeparatesShardAndRole(t *testing.T) {
	a, _ := signing.DeriveOnline(seed(1), "0", "new")
	b, _ := signing.DeriveOnline(seed(1), "0n", "ew")
	if a.ID() == b.ID() {
		t.Error("shard and role run together")
	}
}

func TestDeriveOnlineRefusesABadSecret(t *testing.T) {
	for _, n := range []int{0, 16, 31, 33, 64} {
		if _, err := signing.DeriveOnline(make([]byte, n), "0", "timestamp"); err == nil {
			t.Errorf("DeriveOnline accepted a %d-byte secret", n)
		}
	}
}
