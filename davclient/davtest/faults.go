package davtest

import (
	"context"
	"io"
	"maps"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Fault changes how matching requests are answered. Several faults may match one
// request: their delays add up, the first Status/Body/Abort wins, the smallest CutAfter
// and BytesPerSecond apply.
type Fault struct {
	Method     string // "" matches any method
	PathPrefix string // matched against the decoded request URL path; "" matches any
	// Nth: 0 fires on every matching request; N fires only on the Nth matching request
	// (1-based) counted from AddFault.
	Nth int
	// Status answers this status with a Sabre-style XML error body instead of serving.
	Status int
	// Body answers this raw body (status 207, or Status if set) instead of serving: for
	// malformed or hostile XML.
	Body []byte
	// CutAfter > 0 serves normally but aborts the connection after that many response
	// body bytes. 0 and negative values mean off.
	CutAfter int64
	// StallAfter > 0 serves normally but, after that many response body bytes, sends
	// nothing more and holds the connection open until the client gives up: a link
	// that died without a reset (a laptop sleeping, a NAT forgetting the connection).
	StallAfter int64
	// Abort drops the connection without any answer.
	Abort bool
	// CutRequestAfter > 0 reads that many bytes of the request body, then drops the
	// connection without an answer: an upload cut while the server received it (nothing
	// is stored, as Nextcloud stores nothing of a short body).
	CutRequestAfter int64
	// DropAnswer serves the request in full (a PUT stores its file, a MOVE moves) and
	// then drops the connection instead of answering: the client cannot tell whether
	// its request took effect.
	DropAnswer bool
	// Delay sleeps before serving; a request cancelled meanwhile gets no answer.
	Delay time.Duration
	// BytesPerSecond > 0 throttles the response body.
	BytesPerSecond int64
	// For > 0 ends the fault that long after AddFault: a file locked by another client's
	// upload (Status 423) for a while, say.
	For time.Duration
}

type faultEntry struct {
	f     Fault
	seen  int
	until time.Time // zero: no end
}

type faultSet struct {
	mu     sync.Mutex
	faults []*faultEntry
}

// AddFault installs f; the returned function removes it (safe to call twice).
func (s *Server) AddFault(f Fault) (remove func()) {
	e := &faultEntry{f: f}
	if f.For > 0 {
		e.until = time.Now().Add(f.For)
	}
	s.faults.mu.Lock()
	s.faults.faults = append(s.faults.faults, e)
	s.faults.mu.Unlock()
	return func() {
		s.faults.mu.Lock()
		defer s.faults.mu.Unlock()
		for i, x := range s.faults.faults {
			if x == e {
				s.faults.faults = append(s.faults.faults[:i], s.faults.faults[i+1:]...)
				return
			}
		}
	}
}

// faultAction is what the faults matching one request add up to.
type faultAction struct {
	delay      time.Duration
	answer     *Fault // first fault that answers instead of serving
	cutAfter   int64
	stallAfter int64
	bps        int64
	dropAnswer bool
}

func (fs *faultSet) match(r *http.Request) (act faultAction, any bool) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	for _, e := range fs.faults {
		f := &e.f
		if f.Method != "" && !strings.EqualFold(f.Method, r.Method) {
			continue
		}
		if f.PathPrefix != "" && !strings.HasPrefix(r.URL.Path, f.PathPrefix) {
			continue
		}
		if !e.until.IsZero() && !time.Now().Before(e.until) {
			continue
		}
		e.seen++
		if f.Nth != 0 && e.seen != f.Nth {
			continue
		}
		any = true
		act.delay += f.Delay
		if act.answer == nil && (f.Status != 0 || f.Body != nil || f.Abort || f.CutRequestAfter > 0) {
			c := *f
			act.answer = &c
		}
		if f.CutAfter > 0 && (act.cutAfter == 0 || f.CutAfter < act.cutAfter) {
			act.cutAfter = f.CutAfter
		}
		if f.StallAfter > 0 && (act.stallAfter == 0 || f.StallAfter < act.stallAfter) {
			act.stallAfter = f.StallAfter
		}
		if f.BytesPerSecond > 0 && (act.bps == 0 || f.BytesPerSecond < act.bps) {
			act.bps = f.BytesPerSecond
		}
		act.dropAnswer = act.dropAnswer || f.DropAnswer
	}
	return act, any
}

// applyFaults runs the matching faults. It returns the writer to serve through, and
// false when the request has been answered (or dropped) already. With drop set the
// caller serves through w and then drops the connection (DropAnswer).
func (s *Server) applyFaults(w http.ResponseWriter, r *http.Request, rec *statusRecorder) (_ http.ResponseWriter, proceed, drop bool) {
	act, any := s.faults.match(r)
	if !any {
		return w, true, false
	}
	rec.fault = true
	s.log.Info("davtest: fault", "op", r.Method, "path", r.URL.Path)
	if act.delay > 0 {
		t := time.NewTimer(act.delay)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return nil, false, false
		}
	}
	if f := act.answer; f != nil {
		switch {
		case f.Abort:
			// net/http closes the connection without writing what was buffered.
			panic(http.ErrAbortHandler)
		case f.CutRequestAfter > 0:
			if r.Body != nil {
				_, _ = io.CopyN(io.Discard, r.Body, f.CutRequestAfter)
			}
			panic(http.ErrAbortHandler)
		case f.Body != nil:
			status := f.Status
			if status == 0 {
				status = http.StatusMultiStatus
			}
			rec.status = status
			w.Header().Set("Content-Type", "application/xml; charset=utf-8")
			w.WriteHeader(status)
			_, _ = w.Write(f.Body)
		default:
			rec.status = f.Status
			writeDavError(w, &davError{status: f.Status, exception: exceptionFor(f.Status),
				message: "fault injected by the test server"})
		}
		return nil, false, false
	}
	if act.dropAnswer {
		// Nothing of the answer reaches the connection; the caller drops it after
		// the request has been served.
		return &dropWriter{header: http.Header{}}, true, true
	}
	if act.cutAfter > 0 {
		w = &cutWriter{ResponseWriter: w, left: act.cutAfter}
	}
	if act.stallAfter > 0 {
		w = &cutWriter{ResponseWriter: w, left: act.stallAfter, stall: r.Context()}
	}
	if act.bps > 0 {
		w = &throttleWriter{ResponseWriter: w, ctx: r.Context(), bps: act.bps, start: time.Now()}
	}
	return w, true, false
}

// dropWriter swallows an answer that is never sent (DropAnswer).
type dropWriter struct{ header http.Header }

func (w *dropWriter) Header() http.Header         { return w.header }
func (w *dropWriter) Write(p []byte) (int, error) { return len(p), nil }
func (w *dropWriter) WriteHeader(int)             {}
func (w *dropWriter) Flush()                      {}

func flush(w http.ResponseWriter) {
	if f, ok := w.(http.Flusher); ok {
		f.Flush()
	}
}

// cutWriter passes left bytes, then drops the connection; with stall set it first holds
// the connection silent until the client goes away.
type cutWriter struct {
	http.ResponseWriter
	left  int64
	stall context.Context
}

func (w *cutWriter) Write(p []byte) (int, error) {
	if int64(len(p)) < w.left {
		w.left -= int64(len(p))
		return w.ResponseWriter.Write(p)
	}
	_, _ = w.ResponseWriter.Write(p[:w.left])
	w.left = 0
	flush(w.ResponseWriter)
	if w.stall != nil {
		<-w.stall.Done()
	}
	panic(http.ErrAbortHandler)
}

func (w *cutWriter) Flush() { flush(w.ResponseWriter) }

// throttleWriter paces the body to bps bytes per second, flushing as it goes so the
// client really sees a slow trickle.
type throttleWriter struct {
	http.ResponseWriter
	ctx   context.Context
	bps   int64
	start time.Time
	sent  int64
}

func (w *throttleWriter) Write(p []byte) (int, error) {
	step := int(min(max(w.bps/20, 1), 64<<10))
	written := 0
	for written < len(p) {
		n := min(step, len(p)-written)
		// A piece leaves when the bytes up to its end are due, so n bytes take at
		// least n/bps seconds to arrive in full.
		due := w.start.Add(time.Duration(float64(w.sent+int64(n)) / float64(w.bps) * float64(time.Second)))
		if wait := time.Until(due); wait > 0 {
			t := time.NewTimer(wait)
			select {
			case <-t.C:
			case <-w.ctx.Done():
				t.Stop()
				return written, w.ctx.Err()
			}
		}
		m, err := w.ResponseWriter.Write(p[written : written+n])
		written += m
		w.sent += int64(m)
		if err != nil {
			return written, err
		}
		flush(w.ResponseWriter)
	}
	return written, nil
}

func (w *throttleWriter) Flush() { flush(w.ResponseWriter) }

// Counts is a snapshot of what the server has seen since start or ResetCounts.
type Counts struct {
	// Requests per method ("GET", "PROPFIND", ...), plus PROPFIND split by Depth under
	// "PROPFIND/0", "PROPFIND/1" and "PROPFIND/infinity".
	Requests map[string]int64
	// ResponseBytes and RequestBytes are body bytes per method, as on the wire
	// (compressed when gzip was used).
	ResponseBytes map[string]int64
	RequestBytes  map[string]int64
}

// Total is the number of requests of all methods.
func (c Counts) Total() int64 {
	var n int64
	for k, v := range c.Requests {
		if !strings.Contains(k, "/") {
			n += v
		}
	}
	return n
}

type stats struct {
	mu                      sync.Mutex
	requests, resp, reqBody map[string]int64
}

func (st *stats) begin(method, depthKey string) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.requests == nil {
		st.requests = map[string]int64{}
	}
	st.requests[method]++
	if depthKey != "" {
		st.requests[depthKey]++
	}
}

func (st *stats) end(method string, respBytes, reqBytes int64) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.resp == nil {
		st.resp = map[string]int64{}
		st.reqBody = map[string]int64{}
	}
	st.resp[method] += respBytes
	st.reqBody[method] += reqBytes
}

// Counts returns a snapshot of the counters.
func (s *Server) Counts() Counts {
	s.stats.mu.Lock()
	defer s.stats.mu.Unlock()
	c := Counts{
		Requests:      maps.Clone(s.stats.requests),
		ResponseBytes: maps.Clone(s.stats.resp),
		RequestBytes:  maps.Clone(s.stats.reqBody),
	}
	if c.Requests == nil {
		c.Requests = map[string]int64{}
	}
	if c.ResponseBytes == nil {
		c.ResponseBytes = map[string]int64{}
	}
	if c.RequestBytes == nil {
		c.RequestBytes = map[string]int64{}
	}
	return c
}

// ResetCounts zeroes the counters and empties the request record. Requests in flight are counted in the new period
// when they end.
func (s *Server) ResetCounts() {
	s.stats.mu.Lock()
	s.stats.requests, s.stats.resp, s.stats.reqBody = nil, nil, nil
	s.stats.mu.Unlock()
	s.recMu.Lock()
	s.requests = nil
	s.recMu.Unlock()
}

// countingWriter counts response body bytes.
type countingWriter struct {
	http.ResponseWriter
	n int64
}

func (w *countingWriter) Write(p []byte) (int, error) {
	n, err := w.ResponseWriter.Write(p)
	w.n += int64(n)
	return n, err
}

func (w *countingWriter) Flush() { flush(w.ResponseWriter) }

func (w *countingWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// countingBody counts request body bytes. The count is atomic because net/http may
// drain the body from another goroutine after the handler returns.
type countingBody struct {
	rc io.ReadCloser
	n  atomic.Int64
}

func (b *countingBody) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	b.n.Add(int64(n))
	return n, err
}

func (b *countingBody) Close() error { return b.rc.Close() }
