package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/ncvfs/ncvfs/davclient/davtest"
)

// The counters are served on a listener of their own, next to the DAV port rather than
// under it: the DAV port's handler belongs to the test server and counts every request
// it sees, so reading the counters there would change them, and a path outside the DAV
// tree would be a non-Nextcloud URL on the port clients talk to. The second port needs
// no credentials and is therefore refused anywhere but on loopback.
//
//	GET  /counts        the counters since start or the last reset, as JSON
//	POST /counts/reset  zero them (answers 204)

// countsJSON is the wire form of davtest.Counts.
type countsJSON struct {
	Requests      map[string]int64 `json:"requests"`
	ResponseBytes map[string]int64 `json:"response_bytes"`
	RequestBytes  map[string]int64 `json:"request_bytes"`
}

// countsSource is the part of the test server the endpoint reads.
type countsSource interface {
	Counts() davtest.Counts
	ResetCounts()
}

// statsHandler serves the counters of src.
func statsHandler(src countsSource) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /counts", func(w http.ResponseWriter, r *http.Request) {
		c := src.Counts()
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(countsJSON{
			Requests: c.Requests, ResponseBytes: c.ResponseBytes, RequestBytes: c.RequestBytes,
		})
	})
	mux.HandleFunc("POST /counts/reset", func(w http.ResponseWriter, r *http.Request) {
		src.ResetCounts()
		w.WriteHeader(http.StatusNoContent)
	})
	return mux
}

// listenStats opens the counters' listener; addr must be a loopback address.
func listenStats(addr string) (net.Listener, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("--stats-addr %q: %w", addr, err)
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return nil, fmt.Errorf("--stats-addr %q: the counters need no password, so they listen on a loopback IP only (e.g. 127.0.0.1:0)", addr)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("--stats-addr: %w", err)
	}
	return ln, nil
}

// serveStats serves the counters on ln until the returned stop is called.
func serveStats(ln net.Listener, src countsSource, logger *slog.Logger) (stop func()) {
	srv := &http.Server{Handler: statsHandler(src), ReadHeaderTimeout: 10 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			logger.Error("davtest-server: serve the counters", "err", err)
		}
	}()
	return func() {
		_ = srv.Close()
		<-done
	}
}
