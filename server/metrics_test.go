package server

import (
	"bufio"
	"net/http/httptest"
	"strings"
	"testing"
)

// testMetric returns the value of the series named exactly series (name
// and labels as exposed) on s's /metrics, or "" if it is absent.
func testMetric(t *testing.T, s *Server, series string) string {
	t.Helper()
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	sc := bufio.NewScanner(rec.Body)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), series+" "); ok {
			return v
		}
	}
	return ""
}

// TestMetricsSeries: /metrics has what an operator expects, the series it
// always had among them, and counts requests by route and status.
func TestMetricsSeries(t *testing.T) {
	s := newTestServer(t, 1<<20)
	for _, u := range []string{"/healthz", "/metadata/0/1.root.json", "/metadata/0/1.root.json", "/metadata/0/99.root.json", "/nope"} {
		s.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", u, nil))
	}
	tests := []struct {
		series, want string
	}{
		{`hallmark_http_requests_total{code="200",route="GET /healthz"}`, "1"},
		{`hallmark_http_requests_total{code="200",route="GET /metadata/"}`, "2"}, // once from the store, once from memory
		{`hallmark_http_requests_total{code="404",route="GET /metadata/"}`, "1"},
		{`hallmark_http_requests_total{code="404",route="unmatched"}`, "1"},
		{`hallmark_http_request_duration_seconds_count{route="GET /metadata/"}`, "3"},
		{`hallmark_http_requests_in_flight`, "1"}, // the /metrics request itself
		{`hallmark_publish_queue_depth`, "0"},
		{`hallmark_shards_behind`, "0"},
		{`hallmark_publish_batches_total`, "0"},
		{`hallmark_changes_published_total`, "0"},
		{`hallmark_changes_rejected_total`, "0"},
		{`hallmark_renewals_total`, "0"},
		{`hallmark_last_publish_error_timestamp_seconds`, "0"},
	}
	for _, tt := range tests {
		if got := testMetric(t, s, tt.series); got != tt.want {
			t.Errorf("%s = %q, want %q", tt.series, got, tt.want)
		}
	}
	for _, present := range []string{"go_goroutines", "go_memstats_heap_alloc_bytes", "process_resident_memory_bytes", "process_open_fds", "hallmark_last_renewal_timestamp_seconds", "hallmark_publish_wait_seconds_count"} {
		if testMetric(t, s, present) == "" {
			t.Errorf("/metrics lacks %s", present)
		}
	}
}

// TestBatchTracker: a batch's size is counted when its shard's next
// snapshot appears; shards are counted apart; a late result of an older
// snapshot changes nothing.
func TestBatchTracker(t *testing.T) {
	var b batchTracker
	steps := []struct {
		shard   string
		version int64
		closed  int
	}{
		{"a", 5, 0}, {"a", 5, 0}, {"b", 2, 0}, {"a", 5, 0},
		{"a", 6, 3}, {"b", 3, 1}, {"a", 5, 0}, {"a", 7, 1},
	}
	for i, st := range steps {
		if got := b.add(st.shard, st.version); got != st.closed {
			t.Fatalf("step %d: add(%s, %d) = %d, want %d", i, st.shard, st.version, got, st.closed)
		}
	}
}
