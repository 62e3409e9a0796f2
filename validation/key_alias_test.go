package validation_test

import (
	"strings"
	"testing"

	"github.com/theupdateframework/go-tuf/v2/metadata"

	"hallmark.dev/hallmark/tufmeta"
	"hallmark.dev/hallmark/validation"
)

// TestKeyAliasedByHexCaseIsRefused: CheckKeys promises "no key is named
// twice", by key material, not only key id. The same ed25519 key written
// with upper-case hex is another JSON object with another (true) key id;
// passed as a second key, one holder would sign twice, under both ids, and
// meet a threshold of 2 alone — in Hallmark's validation and in every TUF
// client, which count signatures by key id.
func TestKeyAliasedByHexCaseIsRefused(t *testing.T) {
	lower := alice.Public().TUF()
	upper := &metadata.Key{Type: lower.Type, Scheme: lower.Scheme, Value: metadata.KeyVal{PublicKey: strings.ToUpper(lower.Value.PublicKey)}}
	lowerID, _ := lower.ID()
	upperID, _ := upper.ID()
	if lowerID == upperID {
		t.Fatal("same id")
	}

	// alice (the only owner) makes "two maintainers" out of her one key,
	// threshold 2.
	p := published(t, 1)
	next := ownersRole(2, 2, alice)
	next.Signed.Delegations.Keys[upperID] = upper
	next.Signed.Delegations.Roles[0].KeyIDs = append(next.Signed.Delegations.Roles[0].KeyIDs, upperID)
	sign(t, next, alice)
	d := validation.CheckOwners(p, next, env())
	if d.Outcome != validation.Reject {
		// Show what it buys: one private key meets the threshold of 2.
		p.OwnersRole = next
		rel, ix := releases(t, 5, src100, whl100, src110)
		sign(t, rel, alice)
		msg, _ := tufmeta.Canonical(rel)
		sig, err := alice.Sign(msg)
		if err != nil {
			t.Fatal(err)
		}
		rel.Signatures = append(rel.Signatures, metadata.Signature{KeyID: upperID, Signature: sig})
		p.Tombstones = map[string]string{}
		r := validation.CheckReleases(p, rel, ix, env())
		t.Fatalf("an owners role naming one key twice (%s… and %s…, hex case) is %v; a releases role signed by that one key is then %v with %d of %d signatures",
			lowerID[:8], upperID[:8], d.Outcome, r.Outcome, len(r.Sigs.Valid), r.Sigs.Threshold)
	}
}
