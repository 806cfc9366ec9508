// Package procname tells whether the process behind a FUSE request is one of a list of
// programs, by name, from /proc. It owns the per-pid cache of those answers and knows
// nothing of FUSE or of what the caller does with the answer.
package procname

import (
	"bytes"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// commLen is the kernel's TASK_COMM_LEN less its NUL: /proc/PID/comm keeps at most
// 15 bytes of a program's name ("tracker-miner-fs-3" reads "tracker-miner-f").
const commLen = 15

// cacheFor is how long an answer is kept per pid: indexers read many files in a
// row, and a pid reused by another program after this is asked about again.
const cacheFor = 2 * time.Second

// Matcher answers Match for a fixed list of program names.
type Matcher struct {
	names map[string]bool // as given, and cut to commLen
	proc  string          // /proc, or a stand-in in tests

	mu    sync.Mutex
	seen  map[uint32]answer
	swept time.Time
}

type answer struct {
	match bool
	until time.Time
}

// New returns a Matcher for names (empty entries are ignored); nil when there are
// none, which matches nothing.
func New(names []string) *Matcher {
	m := &Matcher{names: map[string]bool{}, proc: "/proc", seen: map[uint32]answer{}}
	for _, n := range names {
		n = strings.TrimSpace(n)
		if n == "" {
			continue
		}
		m.names[n] = true
		if len(n) > commLen {
			m.names[n[:commLen]] = true
		}
	}
	if len(m.names) == 0 {
		return nil
	}
	return m
}

// Parse splits a comma-separated list of program names.
func Parse(list string) []string {
	var out []string
	for _, n := range strings.Split(list, ",") {
		if n = strings.TrimSpace(n); n != "" {
			out = append(out, n)
		}
	}
	return out
}

// Match reports whether pid belongs to one of the programs. pid may be a thread's id
// (FUSE requests carry the calling thread's): the name compared is its process's,
// since programs name their threads ("gmain", "pool-…"). A process gone or unreadable
// matches nothing.
func (m *Matcher) Match(pid uint32) bool {
	if m == nil || pid == 0 {
		return false
	}
	now := time.Now()
	m.mu.Lock()
	a, ok := m.seen[pid]
	m.mu.Unlock()
	if ok && now.Before(a.until) {
		return a.match
	}
	match := m.names[m.comm(pid)]
	m.mu.Lock()
	if now.Sub(m.swept) > cacheFor {
		for p, a := range m.seen {
			if now.After(a.until) {
				delete(m.seen, p)
			}
		}
		m.swept = now
	}
	m.seen[pid] = answer{match: match, until: now.Add(cacheFor)}
	m.mu.Unlock()
	return match
}

// comm is the name of the process pid (a thread id or a process id) belongs to.
func (m *Matcher) comm(pid uint32) string {
	dir := m.proc + "/" + strconv.FormatUint(uint64(pid), 10)
	if status, err := os.ReadFile(dir + "/status"); err == nil {
		for line := range bytes.SplitSeq(status, []byte("\n")) {
			if tgid, ok := bytes.CutPrefix(line, []byte("Tgid:")); ok {
				dir = m.proc + "/" + string(bytes.TrimSpace(tgid))
				break
			}
		}
	}
	b, err := os.ReadFile(dir + "/comm")
	if err != nil {
		return ""
	}
	return string(bytes.TrimRight(b, "\n"))
}
