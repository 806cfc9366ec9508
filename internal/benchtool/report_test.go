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
			{key: keyColdLs, label: "cold ls -l 5k", group: groupListing, cold: true},
			{key: keyWarmLs, label: "warm ls -l 5k", group: groupListing},
			{key: keyColdFind, label: "cold find 10k", group: groupListing, cold: true},
			{key: keyWarmFind, label: "warm find 10k", group: groupListing},
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
		"| 1.00 | ≤ 1.00 | PASS |",
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

func contentResults() *results {
	const gib = 1 << 30
	r := &results{
		workloads: []workload{
			{key: keyColdRead, label: "cold read 1 GiB", group: groupContent, cold: true, unit: unitThroughput, readBytes: gib},
			{key: keyColdHead, label: "cold head", group: groupContent, cold: true, budget: time.Minute},
			{key: keyWarmRead, label: "warm re-read 1 GiB", group: groupContent, unit: unitThroughput, readBytes: gib},
			{key: keyColdRandom, label: "cold random", group: groupContent, cold: true, unit: unitFetched, readBytes: 100 * 4096},
			{key: keyColdSmall, label: "cold cat 10k", group: groupContent, cold: true, unit: unitPerFile, items: 10000},
		},
		columns: []string{colRaw, colNcvfs, colRclone, colLocal},
		repeats: repeats{content: 3},
		tree:    "big=1:1G,small=10000:4K",
	}
	r.set(keyColdRead, colRaw, msCell(1000))
	read := msCell(1100, 1000, 1050) // median 1050 ms: 1000/1050 = 0.952 of curl
	read.peakRSS = 40 << 20
	r.set(keyColdRead, colNcvfs, read)
	r.set(keyColdRead, colRclone, msCell(2000))
	r.set(keyColdHead, colNcvfs, msCell(5))
	r.set(keyColdHead, colRclone, msCell(25))
	r.set(keyWarmRead, colNcvfs, msCell(110))
	r.set(keyWarmRead, colLocal, msCell(100))
	random := msCell(30)
	random.fetched = []int64{64 * 100 << 10, 10 << 20, 16 * 100 << 10} // median 6.25 MiB: ×16
	r.set(keyColdRandom, colNcvfs, random)
	small := msCell(9000)
	small.peakRSS = 64 << 20
	r.set(keyColdSmall, colNcvfs, small)
	return r
}

func TestContentGoals(t *testing.T) {
	r := contentResults()
	goals := evalGoals(r, contentGoals())
	want := []struct {
		ratio   float64
		verdict string
	}{
		{1000.0 / 1050, "PASS"}, // throughput ratio 0.952 ≥ 0.9
		{0.2, "PASS"},           // 5 / 25
		{100.0 / 110, "PASS"},   // 0.909 ≥ 0.9
		{16, "PASS"},            // exactly at the limit
		{0.9, "PASS"},           // 9000 ms / 10000 files
		{40.0 / 64, "PASS"},
		{1, "FAIL"}, // 64 MiB is not below 64 MiB
	}
	if len(goals) != len(want) {
		t.Fatalf("%d goals, want %d", len(goals), len(want))
	}
	for i, g := range goals {
		if g.err != nil || abs(g.ratio-want[i].ratio) > 1e-9 || g.verdict() != want[i].verdict {
			t.Errorf("goal %d (%s): ratio %v err %v verdict %s, want %v %s", i, g.goal.text, g.ratio, g.err, g.verdict(), want[i].ratio, want[i].verdict)
		}
	}

	// Worse numbers fail every goal.
	r.set(keyColdRead, colNcvfs, msCell(1200))
	r.set(keyColdHead, colNcvfs, msCell(7))
	r.set(keyWarmRead, colNcvfs, msCell(120))
	worse := msCell(30)
	worse.fetched = []int64{17 * 100 << 12}
	r.set(keyColdRandom, colNcvfs, worse)
	r.set(keyColdSmall, colNcvfs, cell{samples: msCell(10001).samples, peakRSS: 65 << 20})
	for i, g := range evalGoals(r, contentGoals())[:5] {
		if g.verdict() != "FAIL" {
			t.Errorf("goal %d (%s): ratio %v passed after the numbers got worse", i, g.goal.text, g.ratio)
		}
	}

	// Missing data: no counters, no RSS, a wrong-data cell.
	r = contentResults()
	r.set(keyColdRandom, colNcvfs, msCell(30))
	r.set(keyColdSmall, colNcvfs, msCell(9000))
	bad := msCell(1000)
	bad.checkErr = errors.New("wrong bytes at 0")
	bad.peakRSS = 10 << 20
	r.set(keyColdRead, colNcvfs, bad)
	gs := evalGoals(r, contentGoals())
	for _, i := range []int{0, 3, 5, 6} {
		if gs[i].verdict() != "FAIL (no data)" {
			t.Errorf("goal %d (%s): %s, want FAIL (no data)", i, gs[i].goal.text, gs[i].verdict())
		}
	}
}

func TestRenderShowsTheContentTable(t *testing.T) {
	r := contentResults()
	out := render(r, evalGoals(r, contentGoals()))
	for _, want := range []string{
		"### Reading content",
		"Median of 3 runs",
		"| workload | curl GET (-o file) | ncvfs | rclone mount | local disk |",
		"| cold read 1 GiB | 1024 MiB/s (1.00 s) | 975 MiB/s (1.05 s) | 512 MiB/s (2.00 s) | not run |",
		"| cold head | not run | 5.0 (n=1) | 25.0 (n=1) | not run |",
		"| cold random | not run | ×16.0 fetched, 30.0 ms | not run | not run |",
		"| cold cat 10k | not run | 0.900 ms/file (9.00 s) | not run | not run |",
		"| 0.95 | ≥ 0.90 | PASS |",
		"| 1.00 | < 1.00 | FAIL |",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "### Listings") {
		t.Error("a listing table without listing workloads")
	}
}
