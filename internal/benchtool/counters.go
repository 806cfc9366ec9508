package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"
)

// serverCounters reads davtest-server's request and byte counters from its loopback
// counters port (davtest-server --stats-addr), to tell how many bytes a client fetched.
type serverCounters struct {
	url  string // http://127.0.0.1:PORT
	http *http.Client
}

func newServerCounters(url string) *serverCounters {
	return &serverCounters{url: url, http: &http.Client{Timeout: 10 * time.Second}}
}

// reset zeroes the server's counters.
func (s *serverCounters) reset(ctx context.Context) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.url+"/counts/reset", nil)
	if err != nil {
		return fmt.Errorf("benchtool: reset the server's counters: %w", err)
	}
	resp, err := s.http.Do(req)
	if err != nil {
		return fmt.Errorf("benchtool: reset the server's counters: %w", err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10))
	if resp.StatusCode != http.StatusNoContent {
		return fmt.Errorf("benchtool: reset the server's counters: %s", resp.Status)
	}
	return nil
}

// getBytes is the body bytes the server sent in answers to GET since the last reset:
// the content a client fetched.
func (s *serverCounters) getBytes(ctx context.Context) (int64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.url+"/counts", nil)
	if err != nil {
		return 0, fmt.Errorf("benchtool: read the server's counters: %w", err)
	}
	resp, err := s.http.Do(req)
	if err != nil {
		return 0, fmt.Errorf("benchtool: read the server's counters: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("benchtool: read the server's counters: %s", resp.Status)
	}
	var c struct {
		ResponseBytes map[string]int64 `json:"response_bytes"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&c); err != nil {
		return 0, fmt.Errorf("benchtool: read the server's counters: %w", err)
	}
	return c.ResponseBytes["GET"], nil
}

// settledGetBytes is getBytes once it has stopped changing: a request that a client
// cancelled by exiting is counted when the server's handler notices, a moment later.
func (s *serverCounters) settledGetBytes(ctx context.Context) (int64, error) {
	last, err := s.getBytes(ctx)
	if err != nil {
		return 0, err
	}
	for range 40 {
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		n, err := s.getBytes(ctx)
		if err != nil {
			return 0, err
		}
		if n == last {
			return n, nil
		}
		last = n
	}
	return last, nil
}
