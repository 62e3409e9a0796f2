package maintainer

import (
	"testing"
)

// FuzzDecodePendingChange: a pending change as the server lists it (not
// trusted: the maintainer's tool verifies it afterwards) decodes into at
// least one proposed role, or is refused.
func FuzzDecodePendingChange(f *testing.F) {
	f.Add([]byte(`{"project":"p","releases_role":{"signed":{"_type":"targets","spec_version":"1.0.31","version":2,"expires":"2030-01-01T00:00:00Z","targets":{}},"signatures":[]}}`))
	f.Add([]byte(`{"project":"p","owners_role":{"signed":{"_type":"targets","spec_version":"1.0.31","version":2,"expires":"2030-01-01T00:00:00Z","targets":{}},"signatures":[{"keyid":"ab","sig":"cd"}]}}`))
	f.Add([]byte(`{"project":"p"}`))
	f.Fuzz(func(t *testing.T, change []byte) {
		owners, releases, err := decodePendingChange(change)
		if err == nil && owners == nil && releases == nil {
			t.Fatal("accepted a change that proposes no role")
		}
		if err != nil && (owners != nil || releases != nil) {
			t.Fatalf("refused (%v) but returned a role", err)
		}
	})
}
