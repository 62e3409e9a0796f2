// Package groupcommit gathers work that arrives together into groups: a
// caller that finds no group in progress takes everything queued so far and
// commits it as one, while the callers behind it wait for their answers.
// The state stores use it to commit the publications of many shards'
// publishing loops in one transaction.
package groupcommit

import (
	"context"
	"fmt"
	"sync"
)

// Request is one item waiting for a group.
type Request[T any] struct {
	Item T
	done chan error
}

// Answer gives the request's caller its answer; only the first counts.
func (r *Request[T]) Answer(err error) {
	select {
	case r.done <- err:
	default: // answered already
	}
}

// Group commits items in groups, one group at a time. The zero Group is
// ready to use.
type Group[T any] struct {
	commits sync.Mutex // held by the caller committing a group
	queueMu sync.Mutex
	queue   []*Request[T]
}

// Do queues item and returns its answer. If no group is being committed,
// the caller commits every queued request with commit, which must Answer
// each of them; the group runs to its end (with ctx's values but not its
// cancellation) even if this caller gives up, since the others wait for it.
func (g *Group[T]) Do(ctx context.Context, item T, commit func(ctx context.Context, reqs []*Request[T])) error {
	req := &Request[T]{Item: item, done: make(chan error, 1)}
	g.queueMu.Lock()
	g.queue = append(g.queue, req)
	g.queueMu.Unlock()
	g.commits.Lock()
	select {
	case err := <-req.done:
		// A committer before this one took the request into its group.
		g.commits.Unlock()
		return err
	default:
	}
	g.queueMu.Lock()
	reqs := g.queue
	g.queue = nil
	g.queueMu.Unlock()
	func() {
		defer g.commits.Unlock()
		defer func() {
			if v := recover(); v != nil {
				// Nobody may wait forever on a group that panicked.
				for _, r := range reqs {
					r.Answer(fmt.Errorf("commit failed: %v", v))
				}
				panic(v)
			}
		}()
		commit(context.WithoutCancel(ctx), reqs)
	}()
	return <-req.done
}

// Lock keeps the group's committer busy, so that requests queue (tests use
// it to gather a group); Unlock lets the next caller take them.
func (g *Group[T]) Lock() { g.commits.Lock() }

// Unlock ends Lock.
func (g *Group[T]) Unlock() { g.commits.Unlock() }

// Queued is the number of requests waiting for the next group.
func (g *Group[T]) Queued() int {
	g.queueMu.Lock()
	defer g.queueMu.Unlock()
	return len(g.queue)
}
