package server

import (
	"errors"
	"reflect"
	"testing"

	"hallmark.dev/hallmark/publish"
	"hallmark.dev/hallmark/tufmeta"
	"hallmark.dev/hallmark/validation"
)

// A forwarded change's result comes back to the replica that accepted it
// as the publisher produced it: the same outcome, and a reason of the same
// kind, so the client gets the answer one server would have given.
func TestForwardedResultRoundTrip(t *testing.T) {
	sigs := tufmeta.SigCount{Valid: []string{"k1"}, Threshold: 2}
	for _, tc := range []struct {
		desc string
		res  publish.Result
		err  error
	}{
		{"published", publish.Result{Outcome: validation.Accept, Shard: "0a", SnapshotVersion: 42, Waiting: "witness w1: down"}, nil},
		{"pending", publish.Result{Outcome: validation.Pending, Sigs: sigs, Shard: "0a"}, nil},
		{"conflict", publish.Result{Outcome: validation.Reject, Reason: &validation.Conflict{Role: "p.releases", Proposed: 3, Current: 4}}, nil},
		{"rejected", publish.Result{Outcome: validation.Reject, Reason: &validation.Rejected{Msg: "project p exists already", Code: validation.RejectExists}}, nil},
		{"internal", publish.Result{Outcome: validation.Reject, Reason: errors.New("internal error: disk full")}, nil},
		{"store failed", publish.Result{Outcome: validation.Reject, Reason: errors.New("commit: connection reset")}, errors.New("commit: connection reset")},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			data, err := encodeResult(tc.res, tc.err)
			if err != nil {
				t.Fatal(err)
			}
			got, gotErr := decodeResult(data)
			if (gotErr == nil) != (tc.err == nil) || (gotErr != nil && gotErr.Error() != tc.err.Error()) {
				t.Fatalf("error = %v, want %v", gotErr, tc.err)
			}
			// Same type and content: a conflict stays a conflict (409 with
			// the current version), a rejection keeps its code.
			if !reflect.DeepEqual(got.Reason, tc.res.Reason) {
				t.Errorf("reason = %#v, want %#v", got.Reason, tc.res.Reason)
			}
			got.Reason, tc.res.Reason = nil, nil
			if !reflect.DeepEqual(got, tc.res) {
				t.Errorf("result = %+v, want %+v", got, tc.res)
			}
		})
	}
}

// A malformed forwarded request is refused, naming the problem, and never
// reaches the publisher as an empty change.
func TestForwardedRequestMalformed(t *testing.T) {
	rt := &router{}
	for _, data := range []string{`{}`, `not json`, `{"change":{"project":"p","owners_role":"bm90IG1ldGFkYXRh"}}`} {
		if _, err := rt.decodeRequest([]byte(data)); err == nil {
			t.Errorf("decodeRequest(%s) accepted it", data)
		}
	}
}
