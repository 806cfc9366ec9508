package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

// fakeCounters serves the counters API; each GET can add bytes first, as a server
// still finishing answers does.
type fakeCounters struct {
	mu       sync.Mutex
	getBytes int64
	resets   int
	pending  []int64 // added one per GET /counts, then nothing
	fail     bool
}

func (f *fakeCounters) start(t *testing.T) *serverCounters {
	t.Helper()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /counts", func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		defer f.mu.Unlock()
		if f.fail {
			http.Error(w, "broken", http.StatusInternalServerError)
			return
		}
		if len(f.pending) > 0 {
			f.getBytes += f.pending[0]
			f.pending = f.pending[1:]
		}
		json.NewEncoder(w).Encode(map[string]map[string]int64{
			"requests": {"GET": 1}, "response_bytes": {"GET": f.getBytes, "PROPFIND": 999},
		})
	})
	mux.HandleFunc("POST /counts/reset", func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		defer f.mu.Unlock()
		f.getBytes = 0
		f.resets++
		w.WriteHeader(http.StatusNoContent)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return newServerCounters(srv.URL)
}

func TestServerCountersReadGETBytesOnceSettled(t *testing.T) {
	f := &fakeCounters{getBytes: 500}
	c := f.start(t)
	ctx := context.Background()
	if n, err := c.getBytes(ctx); err != nil || n != 500 {
		t.Errorf("getBytes = %d, %v, want 500 (GET only)", n, err)
	}
	if err := c.reset(ctx); err != nil || f.resets != 1 {
		t.Fatalf("reset: %v, %d resets", err, f.resets)
	}
	f.pending = []int64{100, 50, 7}
	if n, err := c.settledGetBytes(ctx); err != nil || n != 157 {
		t.Errorf("settledGetBytes = %d, %v, want 157 once it stopped growing", n, err)
	}
	f.fail = true
	if _, err := c.getBytes(ctx); err == nil {
		t.Error("a failing counters port gave no error")
	}
}

func TestColdRunsCountWhatEachSampleFetched(t *testing.T) {
	f := &fakeCounters{}
	counters := f.start(t)
	c := &fakeClient{cold: true, dir: t.TempDir()}
	runs := 0
	w := countingWorkload(true, &runs, 0)
	w.counter = counters
	inner := w.run
	w.run = func(ctx context.Context, root string) (time.Duration, error) {
		// Bytes left from before the run must not count: the runner resets first.
		f.mu.Lock()
		if f.resets != runs+1 {
			t.Errorf("run %d started after %d resets", runs+1, f.resets)
		}
		f.getBytes += int64(runs+1) * 1000
		f.mu.Unlock()
		return inner(ctx, root)
	}
	f.getBytes = 1 << 30
	got := measureClient(context.Background(), c, w, 3)
	if got.err != nil {
		t.Fatal(got.err)
	}
	if len(got.fetched) != 3 || got.fetched[0] != 1000 || got.fetched[2] != 3000 {
		t.Errorf("fetched %v, want 1000, 2000, 3000", got.fetched)
	}

	f.fail = true
	if got := measureClient(context.Background(), c, w, 1); got.err == nil {
		t.Error("unreadable counters gave a cell without error")
	}
}

func TestWarmRunsSettleAfterPriming(t *testing.T) {
	c := &fakeClient{dir: t.TempDir()}
	runs := 0
	w := countingWorkload(false, &runs, 0)
	settledAfter := -1
	w.settle = func(context.Context, string) error {
		settledAfter = runs
		return nil
	}
	if got := measureClient(context.Background(), c, w, 2); got.err != nil || len(got.samples) != 2 {
		t.Fatalf("cell %+v", got)
	}
	if settledAfter != 1 {
		t.Errorf("settle ran after %d runs, want after the priming run only", settledAfter)
	}
}

func TestBudgetStopsSamplingASlowClient(t *testing.T) {
	for _, cold := range []bool{true, false} {
		c := &fakeClient{cold: true, dir: t.TempDir()}
		runs := 0
		w := countingWorkload(cold, &runs, 0)
		w.budget = time.Nanosecond // spent after the first sample
		got := measureClient(context.Background(), c, w, 5)
		if got.err != nil || len(got.samples) != 1 {
			t.Errorf("cold %v: %d samples (%v), want 1 once over budget", cold, len(got.samples), got.err)
		}
		w.budget = 0
		if got := measureClient(context.Background(), c, w, 5); len(got.samples) != 5 {
			t.Errorf("cold %v: %d samples without a budget, want 5", cold, len(got.samples))
		}
	}
}
