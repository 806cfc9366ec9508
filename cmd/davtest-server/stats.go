package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"runtime"
	"strconv"
	"strings"
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
//
// For the write benchmark, which must see on the server side when an upload has fully
// arrived, whatever client sent it (P is a folder path relative to the user's root):
//
//	GET  /folder?path=P         files and bytes below P and a version that changes on
//	                            every write there, as JSON: cheap enough to poll
//	GET  /folder/sha256?path=P  the SHA-256 of every file below P, by path relative to P
//	POST /folder/reset?path=P   delete P for good, empty the trash bin, drop unfinished
//	                            chunked uploads (their memory is freed), and make P
//	                            again, empty (answers 204)

// countsJSON is the wire form of davtest.Counts.
type countsJSON struct {
	Requests      map[string]int64 `json:"requests"`
	ResponseBytes map[string]int64 `json:"response_bytes"`
	RequestBytes  map[string]int64 `json:"request_bytes"`
}

// folderJSON is the wire form of davtest.FolderSummary.
type folderJSON struct {
	Files   int    `json:"files"`
	Bytes   int64  `json:"bytes"`
	Version string `json:"version"`
}

// statsSource is the part of the test server the endpoints use.
type statsSource interface {
	Counts() davtest.Counts
	ResetCounts()
	Summarize(p string) (davtest.FolderSummary, error)
	Walk(fn func(path string, info davtest.NodeInfo) error) error
	Open(p string) (io.ReaderAt, int64, error)
	Purge(p string) error
	EmptyTrash()
	DropUploads()
	MkdirAll(p string) error
}

// statsHandler serves the counters of src and the write benchmark's folder endpoints.
func statsHandler(src statsSource) http.Handler {
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
	mux.HandleFunc("GET /folder", func(w http.ResponseWriter, r *http.Request) {
		sum, err := src.Summarize(r.URL.Query().Get("path"))
		if err != nil {
			httpError(w, err)
			return
		}
		writeJSON(w, folderJSON{Files: sum.Files, Bytes: sum.Bytes, Version: strconv.FormatUint(sum.Version, 16)})
	})
	mux.HandleFunc("GET /folder/sha256", func(w http.ResponseWriter, r *http.Request) {
		sums, err := folderSHA256(src, r.URL.Query().Get("path"))
		if err != nil {
			httpError(w, err)
			return
		}
		writeJSON(w, struct {
			Files map[string]string `json:"files"`
		}{sums})
	})
	mux.HandleFunc("POST /folder/reset", func(w http.ResponseWriter, r *http.Request) {
		p := strings.Trim(r.URL.Query().Get("path"), "/")
		if p == "" {
			http.Error(w, "path: want a folder below the root", http.StatusBadRequest)
			return
		}
		if err := src.Purge(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			httpError(w, err)
			return
		}
		src.EmptyTrash()
		src.DropUploads()
		if err := src.MkdirAll(p); err != nil {
			httpError(w, err)
			return
		}
		// Give the memory of the purged uploads back before the next timed run, rather
		// than during it.
		runtime.GC()
		w.WriteHeader(http.StatusNoContent)
	})
	return mux
}

// folderSHA256 hashes every file below the folder p, by path relative to it.
func folderSHA256(src statsSource, p string) (map[string]string, error) {
	p = strings.Trim(p, "/")
	if _, err := src.Summarize(p); err != nil {
		return nil, err
	}
	prefix := p + "/"
	if p == "" {
		prefix = ""
	}
	out := map[string]string{}
	err := src.Walk(func(path string, info davtest.NodeInfo) error {
		rel, ok := strings.CutPrefix(path, prefix)
		if !ok || info.IsDir {
			return nil
		}
		r, size, err := src.Open(path)
		if err != nil {
			return err
		}
		h := sha256.New()
		if _, err := io.Copy(h, io.NewSectionReader(r, 0, size)); err != nil {
			return fmt.Errorf("hash %s: %w", path, err)
		}
		out[rel] = hex.EncodeToString(h.Sum(nil))
		return nil
	})
	return out, err
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

// httpError answers 404 for a missing path, 400 for anything else.
func httpError(w http.ResponseWriter, err error) {
	code := http.StatusBadRequest
	if errors.Is(err, fs.ErrNotExist) {
		code = http.StatusNotFound
	}
	http.Error(w, err.Error(), code)
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
func serveStats(ln net.Listener, src statsSource, logger *slog.Logger) (stop func()) {
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
