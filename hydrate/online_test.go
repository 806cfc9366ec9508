package hydrate

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ncvfs/ncvfs/davclient"
)

// flakyClient answers Stat as its current mode says; every other method is unused.
type flakyClient struct {
	davclient.Interface
	mu   sync.Mutex
	fail error // nil: answer
	hang bool  // take the request, never answer
	// putFail is what Put fails with.
	putFail error
	calls   atomic.Int64
}

func (c *flakyClient) Stat(ctx context.Context, path string) (davclient.Entry, error) {
	c.calls.Add(1)
	c.mu.Lock()
	err, hang := c.fail, c.hang
	c.mu.Unlock()
	if hang {
		<-ctx.Done()
		return davclient.Entry{}, fmt.Errorf("davclient: stat: %w", ctx.Err())
	}
	if err != nil {
		return davclient.Entry{}, err
	}
	return davclient.Entry{IsDir: true}, nil
}

// Put fails as its own mode says: a change the server did not take.
func (c *flakyClient) Put(ctx context.Context, path string, body io.Reader, size int64, opt davclient.PutOptions) (davclient.PutResult, error) {
	return davclient.PutResult{}, c.putFail
}

func (c *flakyClient) setFail(err error) {
	c.mu.Lock()
	c.fail = err
	c.mu.Unlock()
}

var errRefused = &davclient.Error{Op: "propfind", Kind: davclient.ErrTransient, Cause: errors.New("connection refused")}

func TestOnlineOpensFailsFastAndProbesBack(t *testing.T) {
	c := &flakyClient{}
	o := NewOnline(OnlineConfig{Client: c, Logger: slog.New(slog.DiscardHandler),
		ProbeMin: 20 * time.Millisecond, ProbeMax: 40 * time.Millisecond, ProbeTimeout: time.Second})
	defer o.Close()
	back := make(chan struct{}, 1)
	o.OnReconnect(func() { back <- struct{}{} })

	c.setFail(errRefused)
	_, err := o.Stat(context.Background(), "")
	if !errors.Is(err, ErrOffline) || !errors.Is(err, davclient.ErrTransient) {
		t.Fatalf("the failure that opens the breaker: got %v, want ErrOffline and ErrTransient", err)
	}
	if _, off := o.OfflineSince(); !off {
		t.Fatal("not offline after a refused connection")
	}
	// While open, calls do not reach the client: only the probe does.
	before := c.calls.Load()
	for range 100 {
		if _, err := o.Stat(context.Background(), "x"); !errors.Is(err, ErrOffline) {
			t.Fatalf("call while offline: %v", err)
		}
	}
	if sent := c.calls.Load() - before; sent > 10 {
		t.Fatalf("%d requests reached the server while offline; only probes should", sent)
	}

	c.setFail(nil)
	select {
	case <-back:
	case <-time.After(10 * time.Second):
		t.Fatal("the probe did not notice the server is back")
	}
	if _, off := o.OfflineSince(); off {
		t.Fatal("still offline after the probe succeeded")
	}
	if _, err := o.Stat(context.Background(), ""); err != nil {
		t.Fatalf("call after reconnect: %v", err)
	}
}

// A failure of one request (a 500, a 404) says the server answers: it does not open
// the breaker.
func TestOnlineIgnoresFailuresOfOneRequest(t *testing.T) {
	c := &flakyClient{}
	o := NewOnline(OnlineConfig{Client: c, Logger: slog.New(slog.DiscardHandler)})
	defer o.Close()
	for _, err := range []error{
		&davclient.Error{Op: "get", Status: 500, Kind: davclient.ErrTransient},
		&davclient.Error{Op: "get", Status: 404, Kind: davclient.ErrNotFound},
		&davclient.Error{Op: "get", Status: 429, Kind: davclient.ErrTransient},
		context.Canceled,
	} {
		c.setFail(err)
		if _, got := o.Stat(context.Background(), ""); errors.Is(got, ErrOffline) {
			t.Fatalf("%v became %v", err, got)
		}
		if _, off := o.OfflineSince(); off {
			t.Fatalf("%v opened the breaker", err)
		}
	}
	for _, status := range []int{502, 503, 504} {
		o2 := NewOnline(OnlineConfig{Client: c, Logger: slog.New(slog.DiscardHandler), ProbeMin: time.Hour})
		c.setFail(&davclient.Error{Op: "get", Status: status, Kind: davclient.ErrTransient})
		o2.Stat(context.Background(), "")
		if _, off := o2.OfflineSince(); !off {
			t.Errorf("a %d from a proxy did not open the breaker", status)
		}
		o2.Close()
	}
}

// A threshold above one needs that many failures in a row; a success between resets it.
func TestOnlineThreshold(t *testing.T) {
	c := &flakyClient{}
	o := NewOnline(OnlineConfig{Client: c, Logger: slog.New(slog.DiscardHandler), Threshold: 2, ProbeMin: time.Hour})
	defer o.Close()
	c.setFail(errRefused)
	o.Stat(context.Background(), "")
	c.setFail(nil)
	o.Stat(context.Background(), "")
	c.setFail(errRefused)
	o.Stat(context.Background(), "")
	if _, off := o.OfflineSince(); off {
		t.Fatal("opened by failures that were not in a row")
	}
	o.Stat(context.Background(), "")
	if _, off := o.OfflineSince(); !off {
		t.Fatal("two failures in a row did not open it")
	}
}

// A server that takes requests and never answers: a call waiting SuspectAfter makes
// a quick check, whose going unanswered opens the breaker and fails the waiting call
// with ErrOffline, long before any timeout of the client.
func TestOnlineServerThatNeverAnswers(t *testing.T) {
	c := &flakyClient{hang: true}
	o := NewOnline(OnlineConfig{Client: c, Logger: slog.New(slog.DiscardHandler),
		SuspectAfter: 50 * time.Millisecond, ProbeTimeout: 100 * time.Millisecond,
		ProbeMin: 20 * time.Millisecond, ProbeMax: 20 * time.Millisecond})
	defer o.Close()
	back := make(chan struct{}, 1)
	o.OnReconnect(func() { back <- struct{}{} })
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute) // the client's own bound
	defer cancel()
	start := time.Now()
	_, err := o.Stat(ctx, "Documents")
	took := time.Since(start)
	if !errors.Is(err, ErrOffline) {
		t.Fatalf("waiting call: %v, want ErrOffline", err)
	}
	if took > 10*time.Second {
		t.Fatalf("the waiting call took %s", took)
	}
	t.Logf("a call to a server that never answers failed after %s", took)
	c.mu.Lock()
	c.hang = false
	c.mu.Unlock()
	select {
	case <-back:
	case <-time.After(10 * time.Second):
		t.Fatal("not back online")
	}
}

// A call that is slow while the server answers checks does not open the breaker.
func TestOnlineSlowCallOfALiveServer(t *testing.T) {
	c := &slowListClient{flakyClient: &flakyClient{}}
	o := NewOnline(OnlineConfig{Client: c, Logger: slog.New(slog.DiscardHandler),
		SuspectAfter: 20 * time.Millisecond, ProbeTimeout: time.Second})
	defer o.Close()
	if _, err := o.List(context.Background(), "big", nil); err != nil {
		t.Fatal(err)
	}
	if _, off := o.OfflineSince(); off {
		t.Fatal("a slow listing of a live server opened the breaker")
	}
	if c.calls.Load() == 0 {
		t.Fatal("the slow call made no check of the root")
	}
}

type slowListClient struct{ *flakyClient }

func (c *slowListClient) List(ctx context.Context, path string, fn func(davclient.Entry) error) (davclient.Entry, error) {
	select {
	case <-time.After(300 * time.Millisecond):
	case <-ctx.Done():
		return davclient.Entry{}, ctx.Err()
	}
	return davclient.Entry{IsDir: true}, nil
}

// A change whose answer was lost, or that a proxy refused, opens the breaker only if a
// check of the root goes unanswered too.
func TestOnlineChangeFailureIsConfirmedFirst(t *testing.T) {
	c := &flakyClient{putFail: &davclient.Error{Op: "put", Status: 503, Kind: davclient.ErrTransient}}
	o := NewOnline(OnlineConfig{Client: c, Logger: slog.New(slog.DiscardHandler), ProbeMin: time.Hour})
	defer o.Close()
	if _, err := o.Put(context.Background(), "a", nil, 0, davclient.PutOptions{}); errors.Is(err, ErrOffline) || err == nil {
		t.Fatalf("put: %v, want its own failure", err)
	}
	eventually(t, func() bool { return c.calls.Load() > 0 }) // the check was made
	time.Sleep(20 * time.Millisecond)
	if _, off := o.OfflineSince(); off {
		t.Fatal("a 503 to one PUT of a server that answers opened the breaker")
	}

	c.setFail(errRefused)
	c.putFail = errRefused
	o.Put(context.Background(), "a", nil, 0, davclient.PutOptions{})
	eventually(t, func() bool { _, off := o.OfflineSince(); return off })
}

func eventually(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 10s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
