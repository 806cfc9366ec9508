package main

import (
	"fmt"
	"strings"
	"time"
)

// Column names: the raw reference first, then the clients.
const (
	colRaw    = "raw"
	colNcvfs  = "ncvfs"
	colRclone = "rclone"
	colLocal  = "local"
)

var columnTitles = map[string]string{
	colRaw:    "raw PROPFIND (curl)",
	colNcvfs:  "ncvfs",
	colRclone: "rclone mount",
	colLocal:  "local disk",
}

// results is everything the report shows.
type results struct {
	workloads []workload
	columns   []string
	cells     map[string]map[string]cell // workload key, then column
	repeats   repeats
	tree      string
	machine   []string
	elapsed   time.Duration
}

func (r *results) set(key, col string, c cell) {
	if r.cells == nil {
		r.cells = map[string]map[string]cell{}
	}
	if r.cells[key] == nil {
		r.cells[key] = map[string]cell{}
	}
	r.cells[key][col] = c
}

func (r *results) label(key string) string {
	for _, w := range r.workloads {
		if w.key == key {
			return w.label
		}
	}
	return key
}

// get returns a usable median, or an error saying why there is none.
func (r *results) get(key, col string) (time.Duration, error) {
	c, ok := r.cells[key][col]
	switch {
	case !ok:
		return 0, fmt.Errorf("%s: %s not measured", columnTitles[col], r.label(key))
	case c.err != nil:
		return 0, fmt.Errorf("%s: %s failed", columnTitles[col], r.label(key))
	case c.checkErr != nil:
		return 0, fmt.Errorf("%s: %s showed wrong data", columnTitles[col], r.label(key))
	case !c.usable():
		return 0, fmt.Errorf("%s: %s not applicable", columnTitles[col], r.label(key))
	}
	return c.median(), nil
}

// goal is one pass/fail line: ratio() must not exceed limit.
type goal struct {
	text  string
	limit float64
	ratio func(r *results) (ratio float64, detail string, err error)
}

// listingGoals are the mount-and-browse issue's targets for ncvfs.
func listingGoals() []goal {
	return []goal{
		{
			text:  "ncvfs cold `ls -l` ≤ raw PROPFIND + 1.5 × ncvfs warm `ls -l`",
			limit: 1,
			ratio: func(r *results) (float64, string, error) {
				cold, err1 := r.get(keyColdLs, colNcvfs)
				raw, err2 := r.get(keyColdLs, colRaw)
				warm, err3 := r.get(keyWarmLs, colNcvfs)
				if err := firstErr(err1, err2, err3); err != nil {
					return 0, "", err
				}
				allowed := float64(raw) + 1.5*float64(warm)
				return float64(cold) / allowed,
					fmt.Sprintf("%s ms vs %s + 1.5 × %s = %.1f ms", ms(cold), ms(raw), ms(warm), allowed/float64(time.Millisecond)), nil
			},
		},
		{
			text:  "ncvfs warm `ls -l` ≤ 3 × local disk",
			limit: 3,
			ratio: func(r *results) (float64, string, error) {
				warm, err1 := r.get(keyWarmLs, colNcvfs)
				local, err2 := r.get(keyWarmLs, colLocal)
				if err := firstErr(err1, err2); err != nil {
					return 0, "", err
				}
				return float64(warm) / float64(local), fmt.Sprintf("%s ms vs %s ms", ms(warm), ms(local)), nil
			},
		},
		{
			text:  "ncvfs cold `find` ≤ 0.3 × rclone's",
			limit: 0.3,
			ratio: func(r *results) (float64, string, error) {
				ours, err1 := r.get(keyColdFind, colNcvfs)
				theirs, err2 := r.get(keyColdFind, colRclone)
				if err := firstErr(err1, err2); err != nil {
					return 0, "", err
				}
				return float64(ours) / float64(theirs), fmt.Sprintf("%s ms vs %s ms", ms(ours), ms(theirs)), nil
			},
		},
	}
}

func firstErr(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// goalResult is an evaluated goal.
type goalResult struct {
	goal   goal
	ratio  float64
	detail string
	err    error
}

func (g goalResult) verdict() string {
	switch {
	case g.err != nil:
		return "FAIL (no data)"
	case g.ratio <= g.goal.limit:
		return "PASS"
	default:
		return "FAIL"
	}
}

func evalGoals(r *results, goals []goal) []goalResult {
	out := make([]goalResult, len(goals))
	for i, g := range goals {
		ratio, detail, err := g.ratio(r)
		out[i] = goalResult{goal: g, ratio: ratio, detail: detail, err: err}
	}
	return out
}

// render writes the markdown report.
func render(r *results, goals []goalResult) string {
	var b strings.Builder
	var notes []string
	note := func(s string) string {
		notes = append(notes, s)
		return fmt.Sprintf("[%d]", len(notes))
	}

	fmt.Fprintf(&b, "## ncvfs listing benchmark\n\n")
	fmt.Fprintf(&b, "Tree `%s` on davtest-server at 127.0.0.1. Milliseconds, median of %d cold runs (each on a fresh mount with an empty cache) or %d warm runs; — = not applicable.\n\n",
		r.tree, r.repeats.cold, r.repeats.warm)

	b.WriteString("| workload |")
	for _, col := range r.columns {
		b.WriteString(" " + columnTitles[col] + " |")
	}
	b.WriteString("\n|---|")
	for range r.columns {
		b.WriteString("---:|")
	}
	b.WriteString("\n")
	for _, w := range r.workloads {
		b.WriteString("| " + w.label + " |")
		for _, col := range r.columns {
			c, ok := r.cells[w.key][col]
			var s string
			switch {
			case !ok:
				s = "not run"
			case c.notApplicable:
				s = "—"
			case c.err != nil:
				s = "error " + note(fmt.Sprintf("%s, %s: %v", columnTitles[col], w.label, c.err))
			case c.checkErr != nil:
				s = ms(c.median()) + " wrong data " + note(fmt.Sprintf("%s, %s: %v", columnTitles[col], w.label, c.checkErr))
			default:
				s = ms(c.median())
			}
			b.WriteString(" " + s + " |")
		}
		b.WriteString("\n")
	}
	for i, n := range notes {
		fmt.Fprintf(&b, "\n[%d] %s", i+1, oneLine(n))
	}
	if len(notes) > 0 {
		b.WriteString("\n")
	}

	b.WriteString("\n### Goals\n\n| goal | measured | ratio | limit | result |\n|---|---|---:|---:|---|\n")
	for _, g := range goals {
		if g.err != nil {
			fmt.Fprintf(&b, "| %s | %s | — | %.2f | %s |\n", g.goal.text, oneLine(g.err.Error()), g.goal.limit, g.verdict())
			continue
		}
		fmt.Fprintf(&b, "| %s | %s | %.2f | %.2f | %s |\n", g.goal.text, g.detail, g.ratio, g.goal.limit, g.verdict())
	}

	if mem := memoryLines(r); len(mem) > 0 {
		b.WriteString("\n### Peak memory of the mount process (VmHWM, read before unmounting)\n\n")
		for _, l := range mem {
			b.WriteString("- " + l + "\n")
		}
	}

	b.WriteString("\n### Machine\n\n")
	for _, l := range r.machine {
		b.WriteString("- " + l + "\n")
	}
	fmt.Fprintf(&b, "- whole run: %.1f s\n", r.elapsed.Seconds())

	b.WriteString("\n### Method\n\n")
	b.WriteString(methodology)
	return b.String()
}

// memoryLines gives, per mount client, the largest peak RSS and the per-workload ones.
func memoryLines(r *results) []string {
	var out []string
	for _, col := range r.columns {
		var parts []string
		var top int64
		for _, w := range r.workloads {
			c, ok := r.cells[w.key][col]
			if !ok || c.peakRSS == 0 {
				continue
			}
			top = max(top, c.peakRSS)
			parts = append(parts, fmt.Sprintf("%s %s", w.label, mib(c.peakRSS)))
		}
		if top > 0 {
			out = append(out, fmt.Sprintf("%s: %s at most (%s)", columnTitles[col], mib(top), strings.Join(parts, ", ")))
		}
	}
	return out
}

func mib(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }

// oneLine keeps a table cell or note on one line.
func oneLine(s string) string {
	s = strings.ReplaceAll(s, "\n", " ")
	return strings.ReplaceAll(s, "|", `\|`)
}
