package groupcommit

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

// Requests that queue while a group commits are committed together, each
// with its own answer.
func TestRequestsQueuedTogetherAreOneGroup(t *testing.T) {
	var g Group[int]
	var groups [][]int
	commit := func(_ context.Context, reqs []*Request[int]) {
		var items []int
		for _, r := range reqs {
			items = append(items, r.Item)
			if r.Item%2 == 1 {
				r.Answer(fmt.Errorf("odd %d", r.Item))
			} else {
				r.Answer(nil)
			}
		}
		groups = append(groups, items)
	}
	g.Lock()
	errs := make(chan error, 6)
	for i := range 6 {
		go func() { errs <- g.Do(context.Background(), i, commit) }()
	}
	for g.Queued() != 6 {
		time.Sleep(time.Millisecond)
	}
	g.Unlock()
	var odd int
	for range 6 {
		if err := <-errs; err != nil {
			odd++
		}
	}
	if len(groups) != 1 || len(groups[0]) != 6 || odd != 3 {
		t.Fatalf("groups %v, %d errors; want one group of 6 and 3 errors", groups, odd)
	}
}

// A group that panics answers every request with an error, and the panic
// reaches the caller that committed it: nobody waits forever.
func TestPanickingGroupAnswersEveryone(t *testing.T) {
	var g Group[int]
	g.Lock()
	errs := make(chan error, 3)
	for i := range 3 {
		go func() {
			defer func() {
				if v := recover(); v != nil {
					errs <- errors.New("panicked")
				}
			}()
			errs <- g.Do(context.Background(), i, func(context.Context, []*Request[int]) { panic("disk on fire") })
		}()
	}
	for g.Queued() != 3 {
		time.Sleep(time.Millisecond)
	}
	g.Unlock()
	var panicked, failed int
	for range 3 {
		switch err := <-errs; {
		case err == nil:
			t.Error("a request of a panicking group got no error")
		case err.Error() == "panicked":
			panicked++
		case strings.Contains(err.Error(), "disk on fire"):
			failed++
		}
	}
	if panicked != 1 || failed != 2 {
		t.Fatalf("%d callers panicked and %d got the error; want 1 and 2", panicked, failed)
	}
}
