package publish_test

import (
	"context"
	"errors"
	"sync"
	"testing"

	"hallmark.dev/hallmark/layout"
	"hallmark.dev/hallmark/publish"
	"hallmark.dev/hallmark/store"
)

// lostAnswerState commits a publication and then reports a failure, once
// armed: a database connection lost while COMMIT was answered.
type lostAnswerState struct {
	store.State
	mu    sync.Mutex
	armed bool
}

func (s *lostAnswerState) Commit(ctx context.Context, p store.Publication) error {
	err := s.State.Commit(ctx, p)
	s.mu.Lock()
	defer s.mu.Unlock()
	if err == nil && s.armed {
		s.armed = false
		return errors.New("connection lost while committing")
	}
	return err
}

// After a commit whose answer was lost, the publisher learns the shard
// from the store again: the maintainer's next release, built on what the
// store holds (the release whose answer was lost), is published. (A
// publisher that kept the state it had before that commit in memory would
// judge the next release against the old version and refuse it.)
func TestPublisherRereadsAShardAfterALostCommitAnswer(t *testing.T) {
	r := newRepo(t)
	lost := &lostAnswerState{State: r.state}
	r.restartPublisher(func(c *publish.Config) { c.State = lost })
	r.mustAccept(createChange(t, "demo", alice, r.clock.Now()))
	r.mustAccept(r.planRelease("demo").add("1.0.0", map[string]string{"demo-1.0.0.tar.gz": "one"}).change(t, alice))

	lost.mu.Lock()
	lost.armed = true
	lost.mu.Unlock()
	if _, err := r.pub.Submit(ctx, r.planRelease("demo").add("1.1.0", map[string]string{"demo-1.1.0.tar.gz": "two"}).change(t, alice)); err == nil {
		t.Fatal("a commit that reported a failure was answered as published")
	}
	shard := layout.ShardOf("demo", shards)
	if v := r.version(shard, layout.ReleasesRole("demo")); v != 3 {
		t.Fatalf("releases version %d in the store; want 3 (the lost answer's commit)", v)
	}
	r.mustAccept(r.planRelease("demo").add("1.2.0", map[string]string{"demo-1.2.0.tar.gz": "three"}).change(t, alice))
	r.checkShardServed(shard)
}

// countingState counts the reads a publisher makes of its state store.
type countingState struct {
	store.State
	mu    sync.Mutex
	reads map[string]int
}

func (s *countingState) count(what string) {
	s.mu.Lock()
	s.reads[what]++
	s.mu.Unlock()
}

func (s *countingState) Role(ctx context.Context, shard, role string) (store.RoleFile, error) {
	s.count("Role " + role)
	return s.State.Role(ctx, shard, role)
}

func (s *countingState) RoleVersion(ctx context.Context, shard, role string, v int64) (store.RoleFile, error) {
	s.count("RoleVersion " + role)
	return s.State.RoleVersion(ctx, shard, role, v)
}

func (s *countingState) RoleExpiries(ctx context.Context, shard string, roles []string) ([]store.RoleFile, error) {
	s.count("RoleExpiries")
	return s.State.RoleExpiries(ctx, shard, roles)
}

func (s *countingState) Project(ctx context.Context, name string) (store.Project, error) {
	s.count("Project")
	return s.State.Project(ctx, name)
}

func (s *countingState) Files(ctx context.Context, project string) ([]store.FileRecord, error) {
	s.count("Files")
	return s.State.Files(ctx, project)
}

// A shard's loop knows what it committed: a project's next release reads
// nothing back from the state store (its roles, its record and files, the
// shard's snapshot, timestamp, bin and root), only commits.
func TestNextReleaseReadsNothingBack(t *testing.T) {
	r := newRepo(t)
	st := &countingState{State: r.state, reads: map[string]int{}}
	r.restartPublisher(func(c *publish.Config) { c.State = st })
	r.mustAccept(createChange(t, "demo", alice, r.clock.Now()))
	r.mustAccept(r.planRelease("demo").add("1.0.0", map[string]string{"demo-1.0.0.tar.gz": "one"}).change(t, alice))
	st.mu.Lock()
	st.reads = map[string]int{}
	st.mu.Unlock()
	r.mustAccept(r.planRelease("demo").add("1.1.0", map[string]string{"demo-1.1.0.tar.gz": "two"}).change(t, alice))
	st.mu.Lock()
	defer st.mu.Unlock()
	if len(st.reads) != 0 {
		t.Errorf("the second release read %v from the store; want nothing", st.reads)
	}
}
