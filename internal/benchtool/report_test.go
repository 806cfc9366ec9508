package main

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func msCell(v ...float64) cell {
	var c cell
	for _, f := range v {
		c.samples = append(c.samples, time.Duration(f*float64(time.Millisecond)))
	}
	return c
}

func listingResults() *results {
	r := &results{
		workloads: []workload{
			{key: keyColdLs, label: "cold ls -l 5k", cold: true},
			{key: keyWarmLs, label: "warm ls -l 5k"},
			{key: keyColdFind, label: "cold find 10k", cold: true},
			{key: keyWarmFind, label: "warm find 10k"},
		},
		columns: []string{colRaw, colNcvfs, colRclone, colLocal},
		repeats: repeats{cold: 3, warm: 3},
		tree:    "flat=5000,tree=100x100",
	}
	for _, k := range []string{keyColdLs, keyWarmLs, keyColdFind, keyWarmFind} {
		r.set(k, colRaw, msCell(10))
	}
	r.set(keyColdLs, colNcvfs, msCell(30, 40, 50)) // median 40
	r.set(keyWarmLs, colNcvfs, msCell(20))
	r.set(keyWarmLs, colLocal, msCell(10))
	r.set(keyColdLs, colLocal, cell{notApplicable: true})
	r.set(keyColdFind, colNcvfs, msCell(100))
	r.set(keyColdFind, colRclone, msCell(1000))
	return r
}

func TestGoalsComputeRatiosFromTheMedians(t *testing.T) {
	r := listingResults()
	goals := evalGoals(r, listingGoals())
	// 40 / (10 + 1.5*20) = 1.0: exactly at the limit passes.
	want := []struct {
		ratio   float64
		verdict string
	}{{1.0, "PASS"}, {2.0, "PASS"}, {0.1, "PASS"}}
	for i, g := range goals {
		if g.err != nil || abs(g.ratio-want[i].ratio) > 1e-9 || g.verdict() != want[i].verdict {
			t.Errorf("goal %d: ratio %v err %v verdict %s, want %v %s", i, g.ratio, g.err, g.verdict(), want[i].ratio, want[i].verdict)
		}
	}

	r.set(keyColdLs, colNcvfs, msCell(41))
	r.set(keyWarmLs, colLocal, msCell(5))
	r.set(keyColdFind, colRclone, msCell(300))
	for i, g := range evalGoals(r, listingGoals()) {
		if g.verdict() != "FAIL" {
			t.Errorf("goal %d: ratio %v passed after the numbers got worse", i, g.ratio)
		}
	}
}

func abs(f float64) float64 {
	if f < 0 {
		return -f
	}
	return f
}

func TestGoalsFailWithoutTrustworthyData(t *testing.T) {
	r := listingResults()
	r.set(keyColdLs, colNcvfs, cell{err: errors.New("mount failed")})
	bad := msCell(5)
	bad.checkErr = errors.New("listing has 4999 entries")
	r.set(keyWarmLs, colLocal, bad)
	delete(r.cells[keyColdFind], colRclone)
	for i, g := range evalGoals(r, listingGoals()) {
		if g.err == nil || g.verdict() != "FAIL (no data)" {
			t.Errorf("goal %d: err %v verdict %s, want FAIL (no data)", i, g.err, g.verdict())
		}
	}
}

func TestRenderShowsTheTableGoalsAndNotes(t *testing.T) {
	r := listingResults()
	r.set(keyWarmFind, colRclone, cell{err: errors.New("rclone exited\nwith | pipes")})
	wrong := msCell(12.34)
	wrong.checkErr = errors.New("3 entries, want 5")
	r.set(keyWarmFind, colNcvfs, wrong)
	r.set(keyColdFind, colNcvfs, cell{samples: []time.Duration{100 * time.Millisecond}, peakRSS: 30 << 20})
	r.machine = []string{"CPUs (nproc): 2"}
	out := render(r, evalGoals(r, listingGoals()))
	for _, want := range []string{
		"| workload | raw PROPFIND (curl) | ncvfs | rclone mount | local disk |",
		"| cold ls -l 5k | 10.0 | 40.0 | not run | — |",
		"| warm ls -l 5k | 10.0 | 20.0 | not run | 10.0 |",
		"| warm find 10k | 10.0 | 12.3 wrong data [1] | error [2] | not run |",
		"[1] ncvfs, warm find 10k: 3 entries, want 5",
		`[2] rclone mount, warm find 10k: rclone exited with \| pipes`,
		"| 1.00 | 1.00 | PASS |",
		"ncvfs: 30.0 MiB at most (cold find 10k 30.0 MiB)",
		"- CPUs (nproc): 2",
		"### Method",
		methodology,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
	if n := strings.Count(out, "\n| "); n < 4+1+3 {
		t.Errorf("report has %d table rows, want the 4 workloads, a header and 3 goals", n)
	}
}

func TestCountLabel(t *testing.T) {
	for n, want := range map[int]string{5000: "5k", 10000: "10k", 2500: "2.5k", 999: "999", 1234: "1234", 0: "0"} {
		if got := countLabel(n); got != want {
			t.Errorf("countLabel(%d) = %q, want %q", n, got, want)
		}
	}
}
