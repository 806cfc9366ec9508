package main

import (
	"context"
	"errors"
	"fmt"
	"syscall"
	"time"
)

// cell is one client's result for one workload.
type cell struct {
	samples []time.Duration
	// notApplicable: the client has no such state (local disk has no cold mount).
	notApplicable bool
	err           error // measuring failed; the samples are incomplete
	checkErr      error // measured, but the client showed wrong data
	peakRSS       int64 // max over the mounts used, bytes
	// fetched is the content bytes the server sent per sample, for workloads that
	// count them.
	fetched []int64
	// For writing rows on a mount, per sample: when the writing command returned and
	// when the server held everything it wrote, both from the start of the command.
	returned, uploaded []time.Duration
}

func (c cell) median() time.Duration { return median(c.samples) }

// usable reports whether the cell holds a trustworthy median.
func (c cell) usable() bool {
	return !c.notApplicable && c.err == nil && c.checkErr == nil && len(c.samples) > 0
}

// repeats are the sample counts: cold and warm listings, content reads (cold or
// warm: a 1 GiB read or 10,000 files are long enough that fewer samples do), and writes.
type repeats struct{ cold, warm, content, write int }

func (r repeats) of(w workload) int {
	switch w.group {
	case groupContent:
		return r.content
	case groupWriting:
		return r.write
	}
	if w.cold {
		return r.cold
	}
	return r.warm
}

// measureRaw times the workload's raw requests.
func measureRaw(ctx context.Context, w workload, c *curlRunner, reps int) cell {
	if w.write != nil {
		return measureWriteRaw(ctx, w, c, reps)
	}
	if w.raw == nil {
		return cell{notApplicable: true}
	}
	var out cell
	for range reps {
		flushDisk()
		d, err := w.raw(ctx, c)
		if err != nil {
			out.err = err
			return out
		}
		out.samples = append(out.samples, d)
	}
	return out
}

// measureClient times the workload on a client. Cold: every sample on a fresh view
// (mount, time the first command, unmount). Warm: one view, the workload once untimed
// so everything is listed, then the timed samples.
func measureClient(ctx context.Context, c client, w workload, reps int) cell {
	if w.write != nil {
		return measureWrite(ctx, c, w, reps)
	}
	if w.cold {
		if !c.hasColdState() {
			return cell{notApplicable: true}
		}
		var out cell
		start := time.Now()
		for i := range reps {
			if i > 0 && w.budget > 0 && time.Since(start) > w.budget {
				break
			}
			if err := oneView(ctx, c, &out, func(v view) error {
				if w.counter != nil {
					if err := w.counter.reset(ctx); err != nil {
						return err
					}
				}
				flushDisk()
				d, err := w.run(ctx, v.dir())
				if err != nil {
					return err
				}
				out.samples = append(out.samples, d)
				if i == 0 && w.check != nil {
					out.checkErr = w.check(v.dir())
				}
				return nil
			}); err != nil {
				out.err = err
				return out
			}
			if w.counter != nil {
				// Read after the unmount: what the mount fetched in the background
				// because of the run counts too.
				n, err := w.counter.settledGetBytes(ctx)
				if err != nil {
					out.err = err
					return out
				}
				out.fetched = append(out.fetched, n)
			}
		}
		return out
	}
	var out cell
	if err := oneView(ctx, c, &out, func(v view) error {
		if _, err := w.run(ctx, v.dir()); err != nil {
			return fmt.Errorf("priming run: %w", err)
		}
		if w.settle != nil {
			if err := w.settle(ctx, v.dir()); err != nil {
				return err
			}
		}
		start := time.Now()
		for i := range reps {
			if i > 0 && w.budget > 0 && time.Since(start) > w.budget {
				break
			}
			flushDisk()
			d, err := w.run(ctx, v.dir())
			if err != nil {
				return err
			}
			out.samples = append(out.samples, d)
		}
		if w.check != nil {
			out.checkErr = w.check(v.dir())
		}
		return nil
	}); err != nil {
		out.err = err
	}
	return out
}

// flushDisk writes every dirty page out before a timed run, so that the writeback of an
// earlier run's files (cold 1 GiB reads leave their caches behind) does not slow the
// next run, whichever client it is.
func flushDisk() { syscall.Sync() }

// oneView opens a view, runs fn on it, records the peak RSS before closing, and always
// closes it.
func oneView(ctx context.Context, c client, out *cell, fn func(view) error) error {
	v, err := c.open(ctx)
	if err != nil {
		return err
	}
	err = fn(v)
	out.peakRSS = max(out.peakRSS, v.peakRSS())
	return errors.Join(err, v.close())
}
