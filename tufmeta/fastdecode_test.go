package tufmeta

import (
	"crypto/sha256"
	"strings"
	"testing"
	"time"

	"github.com/theupdateframework/go-tuf/v2/metadata"
)

// A releases role as Hallmark encodes it takes the fast decoder; every
// other spelling of it is left to the full one, which go-tuf's equality is
// checked on (FuzzDecodeMatchesGoTUF, TestFastEncodingMatchesGoTUF).
func TestFastDecodeTakesOnlyItsOwnEncoding(t *testing.T) {
	md := metadata.Targets(time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC))
	for _, p := range []string{"demo/index.json", "demo/1.0/demo-1.0.tar.gz"} {
		sum := sha256.Sum256([]byte(p))
		md.Signed.Targets[p] = &metadata.TargetFiles{Length: 42, Hashes: metadata.Hashes{"sha256": sum[:]}}
	}
	md.Signatures = []metadata.Signature{{KeyID: strings.Repeat("ab", 32), Signature: make([]byte, 64)}}
	enc, err := Encode(md)
	if err != nil {
		t.Fatal(err)
	}
	good := string(enc)
	if _, ok := fastDecodeTargets(enc); !ok {
		t.Fatalf("the fast decoder refuses a plain releases role:\n%s", enc)
	}
	sum := sha256.Sum256([]byte("demo/index.json"))
	hexSum := strings.ToLower(strings.TrimSpace(strings.Trim(string(mustJSON(t, metadata.HexBytes(sum[:]))), `"`)))
	for _, tt := range []struct{ desc, data string }{
		{"white space", strings.Replace(good, `"version":`, `"version": `, 1)},
		{"a key in another case", strings.Replace(good, `"length":42`, `"Length":42`, 1)},
		{"a duplicate key", strings.Replace(good, `"length":42`, `"length":41,"length":42`, 1)},
		{"an unknown field", strings.Replace(good, `"length":42`, `"length":42,"x":1`, 1)},
		{"a custom field", strings.Replace(good, `"length":42`, `"custom":{},"length":42`, 1)},
		{"upper-case hex", strings.Replace(good, hexSum, strings.ToUpper(hexSum), 1)},
		{"a length as a float", strings.Replace(good, `"length":42`, `"length":42.0`, 1)},
		{"null signatures", strings.Replace(good, `"signatures":[{`, `"signatures":null,"x":[{`, 1)},
		{"duplicate signatures", strings.Replace(good, `"signatures":[`, `"signatures":[{"keyid":"`+strings.Repeat("ab", 32)+`","sig":"`+strings.Repeat("00", 64)+`"},`, 1)},
		{"another type", strings.Replace(good, `"_type":"targets"`, `"_type":"snapshot"`, 1)},
		{"trailing data", good + " "},
	} {
		if tt.data == good {
			t.Fatalf("%s: the test changes nothing", tt.desc)
		}
		if _, ok := fastDecodeTargets([]byte(tt.data)); ok {
			t.Errorf("%s: taken by the fast decoder:\n%s", tt.desc, tt.data)
		}
	}
}

func mustJSON(t *testing.T, v interface{ MarshalJSON() ([]byte, error) }) []byte {
	t.Helper()
	b, err := v.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	return b
}
