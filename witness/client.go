package witness

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/theupdateframework/go-tuf/v2/metadata"

	"hallmark.dev/hallmark/signing"
	"hallmark.dev/hallmark/tufmeta"
)

// Pool is the server's side of its witnesses: it asks each witness that a
// shard's root names to co-sign a timestamp, batching the requests of all
// shards that publish at the same time into one round trip per witness, and
// keeps each witness's health.
type Pool struct {
	http    *http.Client
	timeout time.Duration

	mu       sync.Mutex
	batchers map[string]*batcher         // by URL
	known    map[string]map[string]int64 // URL → shard → root version the witness knows
	health   map[string]*Health          // by witness name
}

// Health is what the server knows of one witness.
type Health struct {
	Name      string    `json:"name"`
	URL       string    `json:"url"`
	LastOK    time.Time `json:"last_ok,omitzero"`
	LastError string    `json:"last_error,omitempty"`
	// LastErrorTime is when LastError happened.
	LastErrorTime time.Time `json:"last_error_time,omitzero"`
	// Failures counts the requests that failed since the last success.
	Failures int `json:"failures"`
	// Refusals counts the timestamps the witness refused, ever.
	Refusals int64 `json:"refusals"`
	// Cosigned counts the timestamps it co-signed.
	Cosigned int64 `json:"cosigned"`
}

// NewPool returns a pool; timeout bounds each round trip to a witness.
func NewPool(client *http.Client, timeout time.Duration) *Pool {
	if client == nil {
		client = &http.Client{}
	}
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	return &Pool{http: client, timeout: timeout, batchers: map[string]*batcher{}, known: map[string]map[string]int64{}, health: map[string]*Health{}}
}

// Health returns the health of every witness the pool has asked, by name.
func (p *Pool) Health() []Health {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]Health, 0, len(p.health))
	for _, h := range p.health {
		out = append(out, *h)
	}
	slices.SortFunc(out, func(a, b Health) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// Job is one shard's timestamp to co-sign.
type Job struct {
	Shard string
	// Roots are every root version of the shard the trust file's pin and
	// later, oldest first; the pool sends each witness only those it may
	// not know.
	Roots [][]byte
	// Root is the newest of them, decoded: it names the witnesses.
	Root      *tufmeta.Root
	Timestamp []byte // signed by the online key
	Snapshot  []byte
}

// Cosign asks the witnesses of the job's root to co-sign its timestamp and
// returns the timestamp with the signatures it needs added: as soon as the
// timestamp role's threshold is met. Every witness signature is verified
// before it is used. The error names each witness that did not sign, and
// why.
func (p *Pool) Cosign(ctx context.Context, job Job) ([]byte, error) {
	ts, err := tufmeta.Decode[metadata.TimestampType](job.Timestamp)
	if err != nil {
		return nil, err
	}
	keys, err := tufmeta.SplitTimestamp(job.Root)
	if err != nil {
		return nil, err
	}
	count, err := tufmeta.Count(ts, keys.Role)
	if err != nil {
		return nil, err
	}
	if count.Met() {
		return job.Timestamp, nil // no witnesses, or signed already
	}
	msg, err := tufmeta.Canonical(ts)
	if err != nil {
		return nil, err
	}
	type answer struct {
		w   tufmeta.Witness
		sig []byte
		err error
	}
	ctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	answers := make(chan answer, len(keys.Witnesses))
	for _, w := range keys.Witnesses {
		go func() {
			sig, err := p.ask(ctx, w, job)
			if err == nil {
				pub, perr := signing.PublicFromTUF(keys.Role.Keys[w.KeyID])
				if perr != nil || !pub.Verify(msg, sig) {
					err = errors.New("its signature does not verify with its key in the root")
				}
			}
			p.note(w, err)
			answers <- answer{w, sig, err}
		}()
	}
	need := keys.Role.Threshold - len(count.Valid)
	var problems []string
	for range keys.Witnesses {
		a := <-answers
		if a.err != nil {
			problems = append(problems, fmt.Sprintf("witness %s (%s): %v", a.w.Name, a.w.URL, a.err))
			continue
		}
		ts.Signatures = append(ts.Signatures, metadata.Signature{KeyID: a.w.KeyID, Signature: a.sig})
		if need--; need == 0 {
			return tufmeta.Encode(ts)
		}
	}
	slices.Sort(problems)
	return nil, &Unavailable{Shard: job.Shard, Need: keys.Role.Threshold - len(count.Valid), Problems: problems}
}

// Unavailable is returned when too few witnesses co-signed a timestamp.
type Unavailable struct {
	Shard    string
	Need     int
	Problems []string
}

func (e *Unavailable) Error() string {
	return fmt.Sprintf("shard %s: %d more witness signature(s) needed: %s", e.Shard, e.Need, strings.Join(e.Problems, "; "))
}

// ask sends one witness the job, through its batcher, sending again with
// every root when the witness turns out to know fewer roots than thought.
func (p *Pool) ask(ctx context.Context, w tufmeta.Witness, job Job) ([]byte, error) {
	for attempt := 0; ; attempt++ {
		known := p.knownRoot(w.URL, job.Shard)
		req := Request{Shard: job.Shard, Timestamp: job.Timestamp, Snapshot: job.Snapshot}
		for _, r := range job.Roots {
			if v := rootVersion(r); v > known {
				req.Roots = append(req.Roots, r)
			}
		}
		res, err := p.batcher(w.URL).do(ctx, req)
		if err != nil {
			return nil, err
		}
		p.setKnownRoot(w.URL, job.Shard, res.RootVersion)
		if res.Error == "" {
			if res.KeyID != w.KeyID {
				return nil, fmt.Errorf("it signed with key %s, not its key %s in the root", res.KeyID, w.KeyID)
			}
			return res.Signature, nil
		}
		if attempt == 0 && res.RootVersion < known {
			continue // it forgot roots (a new witness state): send them all
		}
		return nil, &Refusal{Reason: res.Error}
	}
}

func rootVersion(b []byte) int64 {
	var v struct {
		Signed struct {
			Version int64 `json:"version"`
		} `json:"signed"`
	}
	json.Unmarshal(b, &v)
	return v.Signed.Version
}

func (p *Pool) knownRoot(url, shard string) int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.known[url][shard]
}

func (p *Pool) setKnownRoot(url, shard string, v int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.known[url] == nil {
		p.known[url] = map[string]int64{}
	}
	p.known[url][shard] = v
}

func (p *Pool) note(w tufmeta.Witness, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	h, ok := p.health[w.Name]
	if !ok {
		h = &Health{Name: w.Name}
		p.health[w.Name] = h
	}
	h.URL = w.URL
	var ref *Refusal
	switch {
	case err == nil:
		h.LastOK, h.Failures = time.Now(), 0
		h.Cosigned++
	case errors.As(err, &ref):
		h.Refusals++
		h.LastError, h.LastErrorTime = "refused: "+ref.Reason, time.Now()
	default:
		h.Failures++
		h.LastError, h.LastErrorTime = err.Error(), time.Now()
	}
}

func (p *Pool) batcher(url string) *batcher {
	p.mu.Lock()
	defer p.mu.Unlock()
	b, ok := p.batchers[url]
	if !ok {
		b = &batcher{url: strings.TrimSuffix(url, "/"), http: p.http}
		p.batchers[url] = b
	}
	return b
}

// batcher sends one witness the requests of concurrent callers together:
// while a round trip is under way, new requests wait and go out in the next
// one (group commit), so the number of round trips does not grow with the
// number of shards publishing.
type batcher struct {
	url  string
	http *http.Client

	mu      sync.Mutex
	queue   []*call
	running bool
}

type call struct {
	ctx  context.Context
	req  Request
	done chan struct{}
	res  Result
	err  error
}

// maxBatch bounds the requests in one round trip.
const maxBatch = 256

func (b *batcher) do(ctx context.Context, req Request) (Result, error) {
	c := &call{ctx: ctx, req: req, done: make(chan struct{})}
	b.mu.Lock()
	b.queue = append(b.queue, c)
	if !b.running {
		b.running = true
		go b.run()
	}
	b.mu.Unlock()
	select {
	case <-c.done:
		return c.res, c.err
	case <-ctx.Done():
		return Result{}, fmt.Errorf("no answer: %w", ctx.Err())
	}
}

func (b *batcher) run() {
	for {
		b.mu.Lock()
		n := min(len(b.queue), maxBatch)
		if n == 0 {
			b.running = false
			b.mu.Unlock()
			return
		}
		calls := slices.Clone(b.queue[:n])
		b.queue = b.queue[n:]
		b.mu.Unlock()
		b.send(calls)
	}
}

func (b *batcher) send(calls []*call) {
	defer func() {
		for _, c := range calls {
			close(c.done)
		}
	}()
	// The round trip lasts as long as the most patient caller waits.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var deadline time.Time
	live := calls[:0:0]
	for _, c := range calls {
		if c.ctx.Err() != nil {
			c.err = c.ctx.Err()
			continue
		}
		live = append(live, c)
		if d, ok := c.ctx.Deadline(); ok && d.After(deadline) {
			deadline = d
		}
	}
	if len(live) == 0 {
		return
	}
	if !deadline.IsZero() {
		var c2 context.CancelFunc
		ctx, c2 = context.WithDeadline(ctx, deadline)
		defer c2()
	}
	body := CosignRequest{Requests: make([]Request, len(live))}
	for i, c := range live {
		body.Requests[i] = c.req
	}
	res, err := b.post(ctx, body)
	for i, c := range live {
		switch {
		case err != nil:
			c.err = err
		case i >= len(res.Results) || res.Results[i].Shard != c.req.Shard:
			c.err = errors.New("the witness answered another request")
		default:
			c.res = res.Results[i]
		}
	}
}

func (b *batcher) post(ctx context.Context, body CosignRequest) (*CosignResponse, error) {
	data, err := json.Marshal(body)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, b.url+PathCosign, bytes.NewReader(data))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := b.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("unreachable: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return nil, fmt.Errorf("answered %s: %s", resp.Status, strings.TrimSpace(string(msg)))
	}
	var out CosignResponse
	if err := json.NewDecoder(io.LimitReader(resp.Body, 16<<20)).Decode(&out); err != nil {
		return nil, fmt.Errorf("malformed answer: %w", err)
	}
	return &out, nil
}

// FetchStatus asks a witness what it co-signed last for a shard, and
// verifies the answer's signature with the witness's key: the answer is
// the witness's word whoever relays it.
func FetchStatus(ctx context.Context, client *http.Client, w tufmeta.Witness, key *metadata.Key, shard string) (*tufmeta.Timestamp, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(w.URL, "/")+PathShard+shard, nil)
	if err != nil {
		return nil, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("witness %s unreachable: %w", w.Name, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNotFound {
		return nil, nil
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("witness %s answered %s", w.Name, resp.Status)
	}
	var st Status
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&st); err != nil {
		return nil, fmt.Errorf("witness %s: malformed answer: %w", w.Name, err)
	}
	ts, err := tufmeta.Decode[metadata.TimestampType](st.Cosigned)
	if err != nil {
		return nil, fmt.Errorf("witness %s: %w", w.Name, err)
	}
	d := tufmeta.Delegation{Keys: map[string]*metadata.Key{w.KeyID: key}, KeyIDs: []string{w.KeyID}, Threshold: 1}
	if err := tufmeta.Verify(ts, d, "timestamp co-signed by witness "+w.Name); err != nil {
		return nil, err
	}
	return ts, nil
}
