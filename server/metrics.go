package server

import (
	"context"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"hallmark.dev/hallmark/publish"
)

// MetricSource is a part of the server that adds its own series to
// /metrics: pass it in Config.MetricSources. (The witnesses' series come
// from the publisher, see witnessCollector.)
type MetricSource = prometheus.Collector

// metrics are the series /metrics serves, in the Prometheus text format:
// requests by route and status with their latency, connections refused by
// the limits, the publisher's queue and batches, store errors, the Go
// runtime and the process.
type metrics struct {
	handler   http.Handler
	requests  *prometheus.CounterVec
	latency   *prometheus.HistogramVec
	inFlight  prometheus.Gauge
	refused   *prometheus.CounterVec
	waiting   prometheus.Gauge
	wait      prometheus.Histogram
	batch     prometheus.Histogram
	storeErrs *prometheus.CounterVec
	batches   batchTracker
	// series caches the request counter and latency of each route and
	// status: looking them up by label values on every request costs a
	// hash and a lock.
	series sync.Map // routeCode -> routeSeries
}

type routeCode struct {
	route string
	code  int
}

type routeSeries struct {
	requests prometheus.Counter
	latency  prometheus.Observer
}

func newMetrics(s *Server) *metrics {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "hallmark_http_requests_total",
			Help: "HTTP requests answered, by route (the pattern that served it) and status code."}, []string{"route", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "hallmark_http_request_duration_seconds",
			Help:    "Time from a request's headers to the end of its answer, by route.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60}}, []string{"route"}),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{Name: "hallmark_http_requests_in_flight",
			Help: "HTTP requests in progress."}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "hallmark_http_refused_connections_total",
			Help: "Connections refused by the connection limits, by the status answered (429: one client's share, 503: the server's)."}, []string{"code"}),
		waiting: prometheus.NewGauge(prometheus.GaugeOpts{Name: "hallmark_publish_queue_depth",
			Help: "Changes and ceremonies handed to the publisher and not answered yet."}),
		wait: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "hallmark_publish_wait_seconds",
			Help:    "Time from handing a change to the publisher to its outcome.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}}),
		batch: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "hallmark_publish_batch_changes",
			Help:    "Changes this server saw published in one snapshot of a shard (counted when the shard's next snapshot is published).",
			Buckets: []float64{1, 2, 4, 8, 16, 32, 64, 128, 256}}),
		storeErrs: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "hallmark_store_errors_total",
			Help: "Failed store operations, by store (state, blobs) and operation."}, []string{"store", "op"}),
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(m.requests, m.latency, m.inFlight, m.refused, m.waiting, m.wait, m.batch, m.storeErrs,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		publisherCollector{s.cfg.Publisher}, witnessCollector{s.cfg.Publisher})
	if b, ok := s.cfg.Blobs.(interface{ OnError(func(op string)) }); ok {
		b.OnError(func(op string) { m.storeError("blobs", op) })
	}
	for _, c := range s.cfg.MetricSources {
		reg.MustRegister(c)
	}
	m.handler = promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorLog: slogPrinter{s}})
	return m
}

type slogPrinter struct{ s *Server }

func (p slogPrinter) Println(v ...any) { p.s.cfg.Log.Error("metrics", "err", v) }

func (s *Server) handleMetrics(w http.ResponseWriter, r *http.Request) {
	s.metrics.handler.ServeHTTP(w, r)
}

// recorder remembers the status of an answer.
type recorder struct {
	http.ResponseWriter
	status int
	start  time.Time
}

func (w *recorder) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *recorder) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// ReadFrom keeps the underlying writer's fast path: net/http's response
// hands a file to the connection, which sends it with sendfile.
func (w *recorder) ReadFrom(r io.Reader) (int64, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	if rf, ok := w.ResponseWriter.(io.ReaderFrom); ok {
		return rf.ReadFrom(r)
	}
	return io.Copy(writerOnly{w.ResponseWriter}, r)
}

// writerOnly hides everything but Write (so io.Copy does not loop back
// into ReadFrom).
type writerOnly struct{ io.Writer }

// code is the answer's status (200 if the handler wrote nothing).
func (w *recorder) code() int {
	if w.status == 0 {
		return http.StatusOK
	}
	return w.status
}

// Unwrap lets http.ResponseController reach the connection.
func (w *recorder) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (m *metrics) start(w http.ResponseWriter) *recorder {
	m.inFlight.Inc()
	return &recorder{ResponseWriter: w, start: time.Now()}
}

func (m *metrics) done(w *recorder, r *http.Request) {
	m.inFlight.Dec()
	m.observe(routeOf(r), w.code(), w.start)
}

// routeOf names the route that answered r, from a fixed set: the router's
// pattern, or the static files answered from memory before the router.
func routeOf(r *http.Request) string {
	switch {
	case r.Pattern != "":
		return r.Pattern
	case strings.HasPrefix(r.URL.Path, "/metadata/"):
		return "GET /metadata/"
	case strings.HasPrefix(r.URL.Path, "/targets/"):
		return "GET /targets/"
	}
	return "unmatched"
}

func (m *metrics) refusedConn(status int) {
	m.refused.WithLabelValues(strconv.Itoa(status)).Inc()
}

func (m *metrics) storeError(store, op string) {
	m.storeErrs.WithLabelValues(store, op).Inc()
}

// submit hands a change to the publisher, measuring the wait.
func (s *Server) submit(ctx context.Context, c *publish.Change) (publish.Result, error) {
	return s.measurePublish(func() (publish.Result, error) { return s.cfg.Publisher.Submit(ctx, c) })
}

// measurePublish runs one call to the publisher, counting it in the queue
// depth and the wait, and the published result in its shard's batch.
func (s *Server) measurePublish(f func() (publish.Result, error)) (publish.Result, error) {
	m := s.metrics
	m.waiting.Inc()
	start := time.Now()
	res, err := f()
	m.waiting.Dec()
	m.wait.Observe(time.Since(start).Seconds())
	if err != nil {
		m.storeError("state", "publish")
	} else if res.SnapshotVersion > 0 && res.Shard != "" {
		if n := m.batches.add(res.Shard, res.SnapshotVersion); n > 0 {
			m.batch.Observe(float64(n))
		}
	}
	return res, err
}

// batchTracker counts the published changes of each shard's newest
// snapshot version; when a newer one appears, the count of the previous one
// is a batch's size. (The publisher does not report its batches; results
// of one batch reach the server before the next batch is signed.)
type batchTracker struct {
	mu     sync.Mutex
	shards map[string]*shardBatch
}

type shardBatch struct {
	version int64
	n       int
}

// add counts a change published in shard's snapshot version; it returns
// the size of the batch that version closes, or 0.
func (b *batchTracker) add(shard string, version int64) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.shards == nil {
		b.shards = map[string]*shardBatch{}
	}
	sb, ok := b.shards[shard]
	switch {
	case !ok:
		b.shards[shard] = &shardBatch{version: version, n: 1}
	case version == sb.version:
		sb.n++
	case version > sb.version:
		closed := sb.n
		sb.version, sb.n = version, 1
		return closed
	}
	return 0
}

// publisherCollector serves the publisher's own counters, under the names
// /metrics has always had.
type publisherCollector struct{ p *publish.Publisher }

var (
	descBatches   = prometheus.NewDesc("hallmark_publish_batches_total", "Batches published.", nil, nil)
	descPublished = prometheus.NewDesc("hallmark_changes_published_total", "Changes accepted and published.", nil, nil)
	descRejected  = prometheus.NewDesc("hallmark_changes_rejected_total", "Changes rejected.", nil, nil)
	descRenewals  = prometheus.NewDesc("hallmark_renewals_total", "Online metadata renewals.", nil, nil)
	descLastRenew = prometheus.NewDesc("hallmark_last_renewal_timestamp_seconds", "When online metadata was last renewed.", nil, nil)
	descLastErr   = prometheus.NewDesc("hallmark_last_publish_error_timestamp_seconds", "When publishing or renewal last failed (0: never).", nil, nil)
)

func (c publisherCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descBatches, descPublished, descRejected, descRenewals, descLastRenew, descLastErr} {
		ch <- d
	}
}

func (c publisherCollector) Collect(ch chan<- prometheus.Metric) {
	if c.p == nil {
		return
	}
	batches, published, rejected, renewals, lastRenewal, _, lastErrTime := c.p.Snapshot()
	ch <- prometheus.MustNewConstMetric(descBatches, prometheus.CounterValue, float64(batches))
	ch <- prometheus.MustNewConstMetric(descPublished, prometheus.CounterValue, float64(published))
	ch <- prometheus.MustNewConstMetric(descRejected, prometheus.CounterValue, float64(rejected))
	ch <- prometheus.MustNewConstMetric(descRenewals, prometheus.CounterValue, float64(renewals))
	ch <- prometheus.MustNewConstMetric(descLastRenew, prometheus.GaugeValue, unixOrZero(lastRenewal))
	ch <- prometheus.MustNewConstMetric(descLastErr, prometheus.GaugeValue, unixOrZero(lastErrTime))
}

func unixOrZero(t time.Time) float64 {
	if t.IsZero() {
		return 0
	}
	return float64(t.Unix())
}

// witnessCollector serves the shards waiting for witnesses and each
// witness's co-signatures, refusals and failures, as the publisher sees them.
type witnessCollector struct{ p *publish.Publisher }

var (
	descBehind    = prometheus.NewDesc("hallmark_shards_behind", "Shards whose newest publication is not served yet (waiting for witnesses).", nil, nil)
	descCosigned  = prometheus.NewDesc("hallmark_witness_cosigned_total", "Timestamps a witness co-signed.", []string{"witness"}, nil)
	descRefusals  = prometheus.NewDesc("hallmark_witness_refusals_total", "Timestamps a witness refused.", []string{"witness"}, nil)
	descFailures  = prometheus.NewDesc("hallmark_witness_failures", "Requests to a witness that failed since its last answer.", []string{"witness"}, nil)
	descLastCosig = prometheus.NewDesc("hallmark_witness_last_cosign_timestamp_seconds", "When a witness last co-signed (0: never).", []string{"witness"}, nil)
)

func (c witnessCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descBehind, descCosigned, descRefusals, descFailures, descLastCosig} {
		ch <- d
	}
}

func (c witnessCollector) Collect(ch chan<- prometheus.Metric) {
	if c.p == nil {
		return
	}
	ch <- prometheus.MustNewConstMetric(descBehind, prometheus.GaugeValue, float64(len(c.p.Behind())))
	for _, h := range c.p.WitnessHealth() {
		ch <- prometheus.MustNewConstMetric(descCosigned, prometheus.CounterValue, float64(h.Cosigned), h.Name)
		ch <- prometheus.MustNewConstMetric(descRefusals, prometheus.CounterValue, float64(h.Refusals), h.Name)
		ch <- prometheus.MustNewConstMetric(descFailures, prometheus.GaugeValue, float64(h.Failures), h.Name)
		ch <- prometheus.MustNewConstMetric(descLastCosig, prometheus.GaugeValue, unixOrZero(h.LastOK), h.Name)
	}
}
