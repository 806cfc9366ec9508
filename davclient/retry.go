package davclient

import (
	"context"
	"errors"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// withRetry runs attempt until it succeeds, fails for good, or the policy is spent.
// Only idempotent work is retried, and only on ErrTransient. attempt may return a
// server-requested wait (Retry-After), which replaces the backoff but stays capped.
func (c *Client) withRetry(ctx context.Context, op, path string, idempotent bool, attempt func() (time.Duration, error)) error {
	for n := 1; ; n++ {
		wait, err := attempt()
		if err == nil {
			return nil
		}
		if !idempotent || n >= c.retry.MaxAttempts || !errors.Is(err, ErrTransient) || ctx.Err() != nil {
			return err
		}
		if wait <= 0 {
			wait = c.backoff(n)
		}
		wait = min(wait, c.retry.MaxDelay)
		c.log.Info("davclient: retrying", "op", op, "path", path, "attempt", n+1,
			"status", statusOf(err), "wait", wait)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return err
		case <-t.C:
		}
	}
}

// backoff is "full jitter": a uniform wait in [0, min(cap, base*2^(n-1))].
func (c *Client) backoff(n int) time.Duration {
	ceiling := c.retry.BaseDelay
	for i := 1; i < n && ceiling < c.retry.MaxDelay; i++ {
		ceiling *= 2
	}
	ceiling = min(ceiling, c.retry.MaxDelay)
	return time.Duration(rand.Int64N(int64(ceiling) + 1))
}

// retryAfter reads a Retry-After header (seconds or an HTTP date); 0 when absent or bad.
func retryAfter(v string) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs <= 0 {
			return 0
		}
		if secs > 24*3600 {
			secs = 24 * 3600 // capped by the policy anyway; avoid overflow
		}
		return time.Duration(secs) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := time.Until(t); d > 0 {
			return d
		}
	}
	return 0
}

func statusOf(err error) int {
	var e *Error
	if errors.As(err, &e) {
		return e.Status
	}
	return 0
}
