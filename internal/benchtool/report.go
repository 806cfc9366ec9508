package main

import (
	"fmt"
	"slices"
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

// contentRawTitle heads the raw column of the content table: curl's GETs, the file
// downloaded and stored on the caches' disk.
const contentRawTitle = "curl GET (-o file)"

// writingRawTitle heads the raw column of the writing table: the same files PUT by curl.
const writingRawTitle = "curl PUT (-T)"

func columnTitle(group, col string) string {
	if col == colRaw {
		switch group {
		case groupContent:
			return contentRawTitle
		case groupWriting:
			return writingRawTitle
		}
	}
	return columnTitles[col]
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

func (r *results) workload(key string) workload {
	for _, w := range r.workloads {
		if w.key == key {
			return w
		}
	}
	return workload{key: key, label: key}
}

func (r *results) label(key string) string { return r.workload(key).label }

// usableCell returns a cell with a trustworthy median, or an error saying why there is
// none.
func (r *results) usableCell(key, col string) (cell, error) {
	c, ok := r.cells[key][col]
	title := columnTitle(r.workload(key).group, col)
	switch {
	case !ok:
		return c, fmt.Errorf("%s: %s not measured", title, r.label(key))
	case c.err != nil:
		return c, fmt.Errorf("%s: %s failed", title, r.label(key))
	case c.checkErr != nil:
		return c, fmt.Errorf("%s: %s showed wrong data", title, r.label(key))
	case !c.usable():
		return c, fmt.Errorf("%s: %s not applicable", title, r.label(key))
	}
	return c, nil
}

// get returns a usable median, or an error saying why there is none.
func (r *results) get(key, col string) (time.Duration, error) {
	c, err := r.usableCell(key, col)
	if err != nil {
		return 0, err
	}
	return c.median(), nil
}

// comparison is how a goal's ratio meets its limit.
type comparison int

const (
	atMost  comparison = iota // ratio ≤ limit
	atLeast                   // ratio ≥ limit
	below                     // ratio < limit
)

func (c comparison) String() string {
	return [...]string{"≤", "≥", "<"}[c]
}

func (c comparison) holds(ratio, limit float64) bool {
	switch c {
	case atLeast:
		return ratio >= limit
	case below:
		return ratio < limit
	default:
		return ratio <= limit
	}
}

// goal is one pass/fail line: ratio() must meet limit, by default by not exceeding it.
type goal struct {
	text  string
	limit float64
	cmp   comparison
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
	case g.goal.cmp.holds(g.ratio, g.goal.limit):
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

// render writes the markdown report: a table per group of workloads, the goals, the
// memory, the machine and the method.
func render(r *results, goals []goalResult) string {
	var b strings.Builder
	var notes []string
	note := func(s string) string {
		notes = append(notes, s)
		return fmt.Sprintf("[%d]", len(notes))
	}

	fmt.Fprintf(&b, "## ncvfs benchmark\n\n")
	fmt.Fprintf(&b, "Tree `%s` on davtest-server at 127.0.0.1; — = not applicable.\n", r.tree)
	for _, g := range []string{groupListing, groupContent, groupWriting} {
		var ws []workload
		for _, w := range r.workloads {
			if w.group == g {
				ws = append(ws, w)
			}
		}
		if len(ws) > 0 {
			renderTable(&b, r, g, ws, note)
		}
	}
	for i, n := range notes {
		fmt.Fprintf(&b, "\n[%d] %s", i+1, oneLine(n))
	}
	if len(notes) > 0 {
		b.WriteString("\n")
	}

	b.WriteString("\n### Goals\n\n| goal | measured | ratio | limit | result |\n|---|---|---:|---:|---|\n")
	for _, g := range goals {
		limit := fmt.Sprintf("%s %.2f", g.goal.cmp, g.goal.limit)
		if g.err != nil {
			fmt.Fprintf(&b, "| %s | %s | — | %s | %s |\n", g.goal.text, oneLine(g.err.Error()), limit, g.verdict())
			continue
		}
		fmt.Fprintf(&b, "| %s | %s | %.2f | %s | %s |\n", g.goal.text, g.detail, g.ratio, limit, g.verdict())
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

// renderTable writes one group's table.
func renderTable(b *strings.Builder, r *results, group string, ws []workload, note func(string) string) {
	switch group {
	case groupListing:
		fmt.Fprintf(b, "\n### Listings\n\nMilliseconds, median of %d cold runs (each on a fresh mount with an empty cache) or %d warm runs.\n\n",
			r.repeats.cold, r.repeats.warm)
	case groupContent:
		fmt.Fprintf(b, "\n### Reading content\n\nMedian of %d runs (cold: each on a fresh mount with an empty cache). Throughput in MiB/s with the time; random reads as bytes fetched from the server ÷ bytes read, with the time of the reads. (n=K): a client stopped after K runs because it had spent over %s on the workload.\n\n",
			r.repeats.content, contentBudget)
	case groupWriting:
		fmt.Fprintf(b, "\n### Writing\n\nMedian of %d runs, each on a fresh mount with an empty cache, into a folder the server has just emptied. The first two rows run until the server holds every byte written (its own count, polled every %s; curl's PUTs are timed the same way), with, for the mounts, when the command returned; `tar x` runs until tar returns, with when the server held everything. Local disk: the command alone. Throughput in MiB/s with the time; (n=K): a client stopped after K runs because it had spent over %s on the workload.\n\n",
			r.repeats.write, pollEvery, writeBudget)
	}
	b.WriteString("| workload |")
	for _, col := range r.columns {
		b.WriteString(" " + columnTitle(group, col) + " |")
	}
	b.WriteString("\n|---|")
	for range r.columns {
		b.WriteString("---:|")
	}
	b.WriteString("\n")
	for _, w := range ws {
		b.WriteString("| " + w.label + " |")
		for _, col := range r.columns {
			c, ok := r.cells[w.key][col]
			title := columnTitle(group, col)
			var s string
			switch {
			case !ok:
				s = "not run"
			case c.notApplicable:
				s = "—"
			case c.err != nil:
				s = "error " + note(fmt.Sprintf("%s, %s: %v", title, w.label, c.err))
			case c.checkErr != nil:
				s = formatCell(w, c) + " wrong data " + note(fmt.Sprintf("%s, %s: %v", title, w.label, c.checkErr))
			default:
				s = formatCell(w, c)
			}
			if n := len(c.samples); w.budget > 0 && c.usable() && n < r.repeats.of(w) {
				s += fmt.Sprintf(" (n=%d)", n)
			}
			b.WriteString(" " + s + " |")
		}
		b.WriteString("\n")
	}
}

// formatCell shows a cell's median in its workload's unit.
func formatCell(w workload, c cell) string {
	d := c.median()
	switch w.unit {
	case unitThroughput:
		return fmt.Sprintf("%.0f MiB/s (%.2f s%s)", throughput(w.readBytes, d), d.Seconds(), writeTimes(w, c))
	case unitPerFile:
		return fmt.Sprintf("%.3f ms/file (%.2f s%s)", perItemMs(d, w.items), d.Seconds(), writeTimes(w, c))
	case unitFetched:
		if len(c.fetched) == 0 {
			return ms(d) + " ms"
		}
		return fmt.Sprintf("×%.1f fetched, %s ms", fetchRatio(c, w.readBytes), ms(d))
	default:
		return ms(d)
	}
}

// writeTimes adds to a mount's writing cell the time its median does not show: when
// the command returned, or when the server held everything.
func writeTimes(w workload, c cell) string {
	switch {
	case w.write == nil:
		return ""
	case w.write.untilUploaded && len(c.returned) > 0:
		return fmt.Sprintf("; returned after %.2f s", median(c.returned).Seconds())
	case !w.write.untilUploaded && len(c.uploaded) > 0:
		return fmt.Sprintf("; on the server after %.2f s", median(c.uploaded).Seconds())
	}
	return ""
}

// throughput is MiB per second.
func throughput(n int64, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(n) / (1 << 20) / d.Seconds()
}

func perItemMs(d time.Duration, items int) float64 {
	if items <= 0 {
		return 0
	}
	return float64(d) / float64(time.Millisecond) / float64(items)
}

// fetchRatio is the median of the bytes fetched per sample over the bytes read.
func fetchRatio(c cell, read int64) float64 {
	if len(c.fetched) == 0 || read <= 0 {
		return 0
	}
	s := slices.Clone(c.fetched)
	slices.Sort(s)
	mid := len(s) / 2
	m := float64(s[mid])
	if len(s)%2 == 0 {
		m = float64(s[mid-1]+s[mid]) / 2
	}
	return m / float64(read)
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
