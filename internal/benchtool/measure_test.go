package main

import (
	"context"
	"errors"
	"testing"
	"time"
)

// fakeClient hands out views of one directory and counts what the runner does.
type fakeClient struct {
	cold            bool
	dir             string
	opens, closes   int
	openErr, closeE error
}

func (c *fakeClient) name() string       { return "fake" }
func (c *fakeClient) hasColdState() bool { return c.cold }
func (c *fakeClient) open(context.Context) (view, error) {
	if c.openErr != nil {
		return nil, c.openErr
	}
	c.opens++
	return &fakeView{c: c, rss: int64(c.opens) << 20}, nil
}

type fakeView struct {
	c   *fakeClient
	rss int64
}

func (v *fakeView) dir() string    { return v.c.dir }
func (v *fakeView) peakRSS() int64 { return v.rss }
func (v *fakeView) close() error   { v.c.closes++; return v.c.closeE }

// countingWorkload records its runs and returns 1ms, 2ms, ... as durations.
func countingWorkload(cold bool, runs *int, failAt int) workload {
	return workload{
		key: "k", label: "label", cold: cold,
		run: func(ctx context.Context, root string) (time.Duration, error) {
			*runs++
			if *runs == failAt {
				return 0, errors.New("run failed")
			}
			return time.Duration(*runs) * time.Millisecond, nil
		},
		check: func(string) error { return nil },
	}
}

func TestColdRunsUseAFreshViewEachTime(t *testing.T) {
	c := &fakeClient{cold: true, dir: t.TempDir()}
	runs := 0
	got := measureClient(context.Background(), c, countingWorkload(true, &runs, 0), 3)
	if got.err != nil || !got.usable() {
		t.Fatalf("cell = %+v", got)
	}
	if c.opens != 3 || c.closes != 3 || runs != 3 || len(got.samples) != 3 {
		t.Errorf("opens %d closes %d runs %d samples %d, want 3 each", c.opens, c.closes, runs, len(got.samples))
	}
	if got.median() != 2*time.Millisecond {
		t.Errorf("median %v, want 2ms", got.median())
	}
	if got.peakRSS != 3<<20 {
		t.Errorf("peakRSS %d, want the largest of the three views", got.peakRSS)
	}
}

func TestWarmRunsPrimeOnceOnOneView(t *testing.T) {
	c := &fakeClient{dir: t.TempDir()}
	runs := 0
	got := measureClient(context.Background(), c, countingWorkload(false, &runs, 0), 4)
	if got.err != nil {
		t.Fatal(got.err)
	}
	if c.opens != 1 || c.closes != 1 || runs != 5 {
		t.Errorf("opens %d closes %d runs %d, want 1, 1 and 1+4", c.opens, c.closes, runs)
	}
	// The priming run (1ms) is not a sample.
	if len(got.samples) != 4 || got.samples[0] != 2*time.Millisecond {
		t.Errorf("samples %v, want 2ms..5ms", got.samples)
	}
}

func TestNoColdStateIsNotApplicable(t *testing.T) {
	c := &fakeClient{dir: t.TempDir()}
	runs := 0
	got := measureClient(context.Background(), c, countingWorkload(true, &runs, 0), 3)
	if !got.notApplicable || got.usable() || c.opens != 0 || runs != 0 {
		t.Errorf("cell %+v after %d opens and %d runs, want not applicable and nothing run", got, c.opens, runs)
	}
}

func TestFailuresStopTheCellAndStillClose(t *testing.T) {
	c := &fakeClient{cold: true, dir: t.TempDir()}
	runs := 0
	got := measureClient(context.Background(), c, countingWorkload(true, &runs, 2), 5)
	if got.err == nil || got.usable() {
		t.Errorf("cell %+v, want the run error", got)
	}
	if runs != 2 || c.opens != 2 || c.closes != 2 {
		t.Errorf("runs %d opens %d closes %d, want to stop after the failing run with every view closed", runs, c.opens, c.closes)
	}

	closing := &fakeClient{dir: t.TempDir(), closeE: errors.New("unmount failed")}
	runs = 0
	if got := measureClient(context.Background(), closing, countingWorkload(false, &runs, 0), 2); got.err == nil {
		t.Error("an unmount failure was not reported")
	}

	refusing := &fakeClient{cold: true, openErr: errors.New("mount failed")}
	if got := measureClient(context.Background(), refusing, countingWorkload(true, &runs, 0), 2); got.err == nil {
		t.Error("a mount failure was not reported")
	}
}

func TestWrongDataIsRecorded(t *testing.T) {
	c := &fakeClient{dir: t.TempDir()}
	runs := 0
	w := countingWorkload(false, &runs, 0)
	w.check = func(string) error { return errors.New("3 entries, want 5") }
	got := measureClient(context.Background(), c, w, 2)
	if got.checkErr == nil || got.usable() || len(got.samples) != 2 {
		t.Errorf("cell %+v, want samples and the check error", got)
	}
}

func TestMeasureRaw(t *testing.T) {
	calls := 0
	w := workload{raw: func(context.Context, *curlRunner) (time.Duration, error) {
		calls++
		return time.Duration(calls), nil
	}}
	got := measureRaw(context.Background(), w, nil, 3)
	if calls != 3 || got.median() != 2 || got.err != nil {
		t.Errorf("measureRaw: %d calls, cell %+v", calls, got)
	}
	if got := measureRaw(context.Background(), workload{}, nil, 3); !got.notApplicable {
		t.Errorf("a workload without raw requests gave %+v", got)
	}
}
