package hydrate

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/ncvfs/ncvfs/davclient"
)

// ErrOffline: the server cannot be reached and ncvfs works from the cache until a
// background probe reaches it again. It also matches davclient.ErrTransient, so every
// caller that falls back to the cache on a transient failure does so offline too.
var ErrOffline = errors.New("the server is unreachable (working offline from the cache); try again when it is back")

// offlineError is what calls fail with while the breaker is open: ErrOffline, and
// ErrTransient for callers that only know that one.
type offlineError struct {
	op    string
	since time.Time
	cause error // this call's own failure; nil for calls refused while open
	// why is the failure that opened the breaker, for the message only: a caller
	// must not take another request's status for this one's.
	why string
}

func (e *offlineError) Error() string {
	s := fmt.Sprintf("hydrate: %s: %v (since %s)", e.op, ErrOffline, e.since.Format(time.RFC3339))
	switch {
	case e.cause != nil:
		s += ": " + e.cause.Error()
	case e.why != "":
		s += "; last failure: " + e.why
	}
	return s
}

func (e *offlineError) Unwrap() []error {
	errs := []error{ErrOffline, davclient.ErrTransient}
	if e.cause != nil {
		errs = append(errs, e.cause)
	}
	return errs
}

// Defaults of OnlineConfig.
const (
	DefaultProbeMin     = time.Second
	DefaultProbeMax     = time.Minute
	DefaultProbeTimeout = 7 * time.Second
	DefaultSuspectAfter = 3 * time.Second
)

// OnlineConfig wires an Online.
type OnlineConfig struct {
	Client davclient.Interface
	Logger *slog.Logger
	// Threshold is how many calls in a row must fail for want of the server before
	// the breaker opens (default 1: davclient already retried reads with backoff, so
	// one failed call is several failed attempts).
	Threshold int
	// ProbeMin and ProbeMax bound the pause between probes (doubling from ProbeMin);
	// ProbeTimeout bounds one probe, so a server that takes connections but never
	// answers does not hold the reconnect back by davclient's header timeout.
	ProbeMin, ProbeMax, ProbeTimeout time.Duration
	// SuspectAfter: a call still waiting this long makes one quick check of the root
	// (bounded by ProbeTimeout); no answer opens the breaker. Without it a server that
	// takes connections but never answers held every caller for davclient's header
	// timeout times its retries: two minutes.
	SuspectAfter time.Duration
}

// Online is a circuit breaker in front of the server, shared by the lister, the
// fetcher, the poller and the uploader: it is a davclient.Interface wrapping the real
// client. Reads (PROPFIND, GET; davclient retried them already) that fail because the
// server cannot be reached (no connection, a timeout, 502/503/504 from a proxy) open
// it; a change failing that way, or a call waiting long, makes a quick check of the
// root first, and opens it only if that goes unanswered too. Opening fails the calls still
// waiting (uploads excepted: they end on their own), and while open every call fails
// at once with ErrOffline instead of waiting for the network; callers answer from the
// cache. One background probe (a Depth-0 PROPFIND of the root, with a capped backoff)
// closes it, and the hooks added with OnReconnect run.
//
// Lock order: Online.mu is a leaf; no call, probe or hook runs under it.
type Online struct {
	cfg OnlineConfig
	log *slog.Logger

	mu       sync.Mutex
	failures int       // unreachable failures in a row
	since    time.Time // when the breaker opened; zero while online
	why      string    // the failure that opened it
	// closedAt and lastWait damp flapping: a breaker that opens again soon after it
	// closed (a proxy refusing only some requests) probes with a longer pause.
	closedAt   time.Time
	lastWait   time.Duration
	calls      map[*onlineCall]struct{} // calls waiting for the server
	suspecting bool                     // a check started by a slow call is under way
	hooks      []func()
	closed     bool

	ctx    context.Context // ends with Close: stops the probe
	cancel context.CancelFunc
	wg     sync.WaitGroup // the probes and the hooks they started
}

// onlineCall is one call waiting for the server.
type onlineCall struct {
	ctx    context.Context
	cancel context.CancelCauseFunc
	keep   bool // not failed when the breaker opens (an upload under way)
	watch  *time.Timer
}

// errWentOffline is the cause given to calls still waiting when the breaker opens.
var errWentOffline = errors.New("hydrate: the server became unreachable during the request")

var _ davclient.Interface = (*Online)(nil)

// NewOnline returns a closed (online) breaker around cfg.Client.
func NewOnline(cfg OnlineConfig) *Online {
	if cfg.Threshold <= 0 {
		cfg.Threshold = 1
	}
	if cfg.ProbeMin <= 0 {
		cfg.ProbeMin = DefaultProbeMin
	}
	if cfg.ProbeMax < cfg.ProbeMin {
		cfg.ProbeMax = max(DefaultProbeMax, cfg.ProbeMin)
	}
	if cfg.ProbeTimeout <= 0 {
		cfg.ProbeTimeout = DefaultProbeTimeout
	}
	if cfg.SuspectAfter <= 0 {
		cfg.SuspectAfter = DefaultSuspectAfter
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Online{cfg: cfg, log: log, ctx: ctx, cancel: cancel, calls: make(map[*onlineCall]struct{})}
}

// OnReconnect adds fn to what runs, on a goroutine of its own, each time the server
// is reached again after being offline.
func (o *Online) OnReconnect(fn func()) {
	o.mu.Lock()
	o.hooks = append(o.hooks, fn)
	o.mu.Unlock()
}

// OfflineSince says since when the server is unreachable; ok is false while online.
func (o *Online) OfflineSince() (since time.Time, ok bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.since, !o.since.IsZero()
}

// Close stops probing and waits for the probes and the hooks they started. Calls
// after Close still pass through (and open the breaker) but start no probe.
func (o *Online) Close() {
	o.mu.Lock()
	o.closed = true
	o.mu.Unlock()
	o.cancel()
	o.wg.Wait()
}

// start lets a call through while online, and watches it. The caller ends it with
// finish and then releases c.cancel (Get: when the body is closed).
func (o *Online) start(ctx context.Context, op string, keep bool) (*onlineCall, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if !o.since.IsZero() {
		return nil, &offlineError{op: op, since: o.since, why: o.why}
	}
	cctx, cancel := context.WithCancelCause(ctx)
	c := &onlineCall{ctx: cctx, cancel: cancel, keep: keep}
	c.watch = time.AfterFunc(o.cfg.SuspectAfter, o.suspect)
	o.calls[c] = struct{}{}
	return c, nil
}

// finish ends a call and returns the error its caller gets.
func (o *Online) finish(ctx context.Context, c *onlineCall, op string, err error) error {
	return o.finishAs(ctx, c, op, err, false)
}

// finishChange is finish for a change (PUT, MKCOL, MOVE, DELETE): sent once, never
// retried by davclient, and a lost answer or a 503 to one upload says little of the
// server, so its failure only starts a check of the root, which decides.
func (o *Online) finishChange(ctx context.Context, c *onlineCall, op string, err error) error {
	return o.finishAs(ctx, c, op, err, true)
}

func (o *Online) finishAs(ctx context.Context, c *onlineCall, op string, err error, confirm bool) error {
	c.watch.Stop()
	o.mu.Lock()
	delete(o.calls, c)
	since := o.since
	o.mu.Unlock()
	if err != nil && ctx.Err() == nil && errors.Is(context.Cause(c.ctx), errWentOffline) {
		return &offlineError{op: op, since: since, cause: err}
	}
	if confirm && unreachable(err) {
		o.suspect()
		return err
	}
	return o.note(op, err)
}

// note counts a call's outcome and returns the error the caller gets: the breaker
// opening turns it into an ErrOffline too.
func (o *Online) note(op string, err error) error {
	if !unreachable(err) {
		if err == nil || !errors.Is(err, context.Canceled) {
			o.mu.Lock()
			o.failures = 0
			o.mu.Unlock()
		}
		return err
	}
	o.mu.Lock()
	o.failures++
	if !o.since.IsZero() {
		since := o.since
		o.mu.Unlock()
		return &offlineError{op: op, since: since, cause: err}
	}
	if o.failures < o.cfg.Threshold {
		o.mu.Unlock()
		return err
	}
	since := o.openLocked(op, err)
	return &offlineError{op: op, since: since, cause: err}
}

// openLocked opens the breaker: the calls still waiting fail, a probe starts.
// Caller holds o.mu; it is released on return.
func (o *Online) openLocked(op string, err error) time.Time {
	o.since, o.why = time.Now(), err.Error()
	since := o.since
	wait := o.cfg.ProbeMin
	if !o.closedAt.IsZero() && time.Since(o.closedAt) < 2*o.lastWait+o.cfg.ProbeMin {
		wait = min(2*o.lastWait, o.cfg.ProbeMax)
	}
	var waiting []*onlineCall
	for c := range o.calls {
		if !c.keep {
			waiting = append(waiting, c)
		}
	}
	probe := !o.closed
	if probe {
		o.wg.Add(1)
	}
	o.mu.Unlock()
	o.log.Warn("server unreachable: working offline from the cache; changes are queued, content not downloaded yet cannot be read until it is back",
		"op", op, "err", err, "requests_failed", len(waiting))
	for _, c := range waiting {
		c.cancel(errWentOffline)
	}
	if probe {
		go o.probe(wait)
	}
	return since
}

// suspect runs when a call waited SuspectAfter: one quick check of the root tells a
// slow answer (a big folder, a large upload) from a server that is gone.
func (o *Online) suspect() {
	o.mu.Lock()
	if !o.since.IsZero() || o.suspecting || o.closed {
		o.mu.Unlock()
		return
	}
	o.suspecting = true
	o.wg.Add(1)
	o.mu.Unlock()
	go func() {
		defer o.wg.Done()
		err := o.check()
		o.mu.Lock()
		o.suspecting = false
		if o.ctx.Err() != nil || !unreachable(err) || !o.since.IsZero() {
			o.mu.Unlock()
			return
		}
		o.openLocked("check", err)
	}()
}

// check is one Depth-0 PROPFIND of the root, bounded by ProbeTimeout; going
// unanswered counts as unreachable.
func (o *Online) check() error {
	ctx, cancel := context.WithTimeout(o.ctx, o.cfg.ProbeTimeout)
	defer cancel()
	_, err := o.cfg.Client.Stat(ctx, "")
	if err != nil && ctx.Err() != nil && o.ctx.Err() == nil {
		return fmt.Errorf("hydrate: no answer to a check of the root within %s: %w", o.cfg.ProbeTimeout, davclient.ErrTransient)
	}
	return err
}

// unreachable tells failures that say the server is gone (no connection, a timeout,
// a proxy with no server behind it) from those of one request.
func unreachable(err error) bool {
	if err == nil || !errors.Is(err, davclient.ErrTransient) || errors.Is(err, ErrOffline) {
		return false
	}
	var de *davclient.Error
	if !errors.As(err, &de) {
		return true // a broken connection the client wrapped itself, a check unanswered
	}
	switch de.Status {
	case 0, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return true
	}
	return false // 500, 429: the server answers; this request failed
}

// probe asks the server, with a growing pause, until it answers; then closes the
// breaker and runs the hooks.
func (o *Online) probe(wait time.Duration) {
	defer o.wg.Done()
	for n := 1; ; n++ {
		t := time.NewTimer(wait)
		select {
		case <-o.ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		err := o.check()
		if o.ctx.Err() != nil {
			return
		}
		if !unreachable(err) {
			o.reconnected(n, wait)
			return
		}
		o.log.Debug("server still unreachable", "op", "probe", "attempt", n, "next", wait, "err", err)
		wait = min(wait*2, o.cfg.ProbeMax)
	}
}

func (o *Online) reconnected(probes int, wait time.Duration) {
	o.mu.Lock()
	offline := time.Since(o.since)
	o.since, o.why, o.failures = time.Time{}, "", 0
	o.closedAt, o.lastWait = time.Now(), wait
	hooks := append([]func(){}, o.hooks...)
	o.wg.Add(len(hooks))
	o.mu.Unlock()
	o.log.Info("server reachable again: uploading queued changes and checking for remote changes",
		"op", "probe", "offline_for", offline.Round(time.Millisecond), "probes", probes)
	for _, fn := range hooks {
		go func() {
			defer o.wg.Done()
			fn()
		}()
	}
}

// Info passes through: it sends nothing.
func (o *Online) Info() davclient.ServerInfo { return o.cfg.Client.Info() }

func (o *Online) Stat(ctx context.Context, path string) (davclient.Entry, error) {
	c, err := o.start(ctx, "stat", false)
	if err != nil {
		return davclient.Entry{}, err
	}
	defer c.cancel(nil)
	e, err := o.cfg.Client.Stat(c.ctx, path)
	return e, o.finish(ctx, c, "stat", err)
}

func (o *Online) List(ctx context.Context, path string, fn func(davclient.Entry) error) (davclient.Entry, error) {
	c, err := o.start(ctx, "list", false)
	if err != nil {
		return davclient.Entry{}, err
	}
	defer c.cancel(nil)
	e, err := o.cfg.Client.List(c.ctx, path, fn)
	return e, o.finish(ctx, c, "list", err)
}

// Get watches the wait for the answer's headers; the body is read on the caller's
// time (the fetcher has its own stall watchdog), so the call's context lives until
// the body is closed.
func (o *Online) Get(ctx context.Context, path string, opt davclient.GetOptions) (*davclient.GetResponse, error) {
	c, err := o.start(ctx, "get", false)
	if err != nil {
		return nil, err
	}
	r, err := o.cfg.Client.Get(c.ctx, path, opt)
	if err = o.finish(ctx, c, "get", err); err != nil {
		c.cancel(nil)
		return nil, err
	}
	r.Body = &releasingBody{ReadCloser: r.Body, release: func() { c.cancel(nil) }}
	return r, nil
}

// releasingBody ends its request's context once closed.
type releasingBody struct {
	io.ReadCloser
	release func()
}

func (b *releasingBody) Close() error {
	err := b.ReadCloser.Close()
	b.release()
	return err
}

func (o *Online) Put(ctx context.Context, path string, body io.Reader, size int64, opt davclient.PutOptions) (davclient.PutResult, error) {
	c, err := o.start(ctx, "put", true)
	if err != nil {
		return davclient.PutResult{}, err
	}
	defer c.cancel(nil)
	r, err := o.cfg.Client.Put(c.ctx, path, body, size, opt)
	return r, o.finishChange(ctx, c, "put", err)
}

func (o *Online) UploadChunked(ctx context.Context, path string, r io.ReaderAt, size int64, opt davclient.ChunkedOptions) (davclient.PutResult, error) {
	c, err := o.start(ctx, "upload", true)
	if err != nil {
		return davclient.PutResult{}, err
	}
	defer c.cancel(nil)
	res, err := o.cfg.Client.UploadChunked(c.ctx, path, r, size, opt)
	return res, o.finishChange(ctx, c, "upload", err)
}

func (o *Online) Mkcol(ctx context.Context, path string) (uint64, error) {
	c, err := o.start(ctx, "mkcol", false)
	if err != nil {
		return 0, err
	}
	defer c.cancel(nil)
	id, err := o.cfg.Client.Mkcol(c.ctx, path)
	return id, o.finishChange(ctx, c, "mkcol", err)
}

func (o *Online) Move(ctx context.Context, from, to string, overwrite bool, ifMatch string) error {
	c, err := o.start(ctx, "move", false)
	if err != nil {
		return err
	}
	defer c.cancel(nil)
	return o.finishChange(ctx, c, "move", o.cfg.Client.Move(c.ctx, from, to, overwrite, ifMatch))
}

func (o *Online) Copy(ctx context.Context, from, to string, overwrite bool) (uint64, error) {
	c, err := o.start(ctx, "copy", false)
	if err != nil {
		return 0, err
	}
	defer c.cancel(nil)
	id, err := o.cfg.Client.Copy(c.ctx, from, to, overwrite)
	return id, o.finish(ctx, c, "copy", err)
}

func (o *Online) Delete(ctx context.Context, path string, ifMatch string) error {
	c, err := o.start(ctx, "delete", false)
	if err != nil {
		return err
	}
	defer c.cancel(nil)
	return o.finishChange(ctx, c, "delete", o.cfg.Client.Delete(c.ctx, path, ifMatch))
}

func (o *Online) RecalculateChecksum(ctx context.Context, path string) (string, error) {
	c, err := o.start(ctx, "checksum", false)
	if err != nil {
		return "", err
	}
	defer c.cancel(nil)
	sum, err := o.cfg.Client.RecalculateChecksum(c.ctx, path)
	return sum, o.finish(ctx, c, "checksum", err)
}
