package api_test

import (
	"strings"
	"testing"

	"hallmark.dev/hallmark/api"
)

// Requests are decoded strictly: JSON that two parsers could read
// differently is refused with a message that names the problem.
func TestDecodeStrictRefusesAmbiguousJSON(t *testing.T) {
	tests := []struct {
		desc, body, want string
	}{
		{"repeated member", `{"project":"a","project":"b"}`, `field "project" appears twice`},
		{"case-folded member", `{"Project":"a"}`, `unknown field "Project"`},
		{"case-folded nested member", `{"project":"a","owners":{"keys":{},"keyids":[],"threshold":1,"Threshold":2}}`, `unknown field "Threshold"`},
		{"repeated member inside a signed role", `{"project":"a","owners_role":{"signed":{"version":1,"version":2},"signatures":[]}}`, `field "version" appears twice`},
		{"unknown member", `{"project":"a","evil":1}`, `unknown field "evil"`},
		{"trailing data", `{"project":"a"}{"project":"b"}`, "data after its JSON object"},
		{"not JSON", `{"project":`, "unexpected EOF"},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			var r api.ChangeRequest
			err := api.DecodeStrict([]byte(tt.body), &r)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("DecodeStrict(%s) = %v; want an error with %q", tt.body, err, tt.want)
			}
		})
	}
	var r api.ChangeRequest
	if err := api.DecodeStrict([]byte(`{"project":"a","owners_role":{"signed":{"x":1},"signatures":[]}}`), &r); err != nil || r.Project != "a" || !strings.Contains(string(r.OwnersRole), `"x":1`) {
		t.Fatalf("a well-formed change: %v %+v", err, r)
	}
}
