package davclient

import (
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// cutConnection drops the connection in the middle of an answer.
func cutConnection(t *testing.T, w http.ResponseWriter) {
	w.(http.Flusher).Flush()
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		t.Error(err)
		return
	}
	conn.Close()
}

func TestListStreams10000Entries(t *testing.T) {
	const n = 10000
	sawHalf := make(chan struct{})
	var streamed atomic.Bool
	env := newEnv(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Depth") != "1" || r.URL.Path != "/remote.php/dav/files/admin/big/" {
			t.Errorf("Depth %q path %q", r.Header.Get("Depth"), r.URL.Path)
		}
		body := string(drain(r))
		for _, p := range []string{"oc:fileid", "oc:permissions", "d:getetag", "oc:size", "oc:checksums", "d:getlastmodified"} {
			if !strings.Contains(body, "<"+p+"/>") {
				t.Errorf("PROPFIND body does not ask for %s", p)
			}
		}
		// Quota is computed per folder by Nextcloud: a listing does not ask for it.
		if strings.Contains(body, "quota") {
			t.Errorf("listing asks for quota: %s", body)
		}
		w.WriteHeader(http.StatusMultiStatus)
		listingXML(w, n, func(i int) {
			if i == n/2 {
				// Wait until the client has decoded the first half: proof it does not
				// buffer the whole body first. The timer only bounds a failing run.
				w.(http.Flusher).Flush()
				select {
				case <-sawHalf:
					streamed.Store(true)
				case <-time.After(10 * time.Second):
				}
			}
		})
	})
	count := 0
	self, err := env.c.List(context.Background(), "big", func(e Entry) error {
		want := fmt.Sprintf("file %06d.bin", count)
		if e.Name != want || e.Path != "big/"+want || e.Size != int64(count) || e.FileID != uint64(count+100) {
			return fmt.Errorf("entry %d = %+v", count, e)
		}
		count++
		if count == n/2 {
			close(sawHalf)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if count != n || self.FileID != 1 || !self.IsDir || self.Path != "big" {
		t.Errorf("count %d self %+v", count, self)
	}
	if !streamed.Load() {
		t.Error("the first half was not decoded before the second was sent")
	}
}

func TestListGzip(t *testing.T) {
	env := newEnv(t, func(w http.ResponseWriter, r *http.Request) {
		if !strings.Contains(r.Header.Get("Accept-Encoding"), "gzip") {
			t.Error("PROPFIND does not accept gzip")
		}
		w.Header().Set("Content-Encoding", "gzip")
		w.WriteHeader(http.StatusMultiStatus)
		gz := gzip.NewWriter(w)
		listingXML(gz, 50, nil)
		gz.Close()
	})
	count := 0
	_, err := env.c.List(context.Background(), "big", func(Entry) error { count++; return nil })
	if err != nil || count != 50 {
		t.Errorf("count %d err %v", count, err)
	}
}

func TestListCutMidStream(t *testing.T) {
	var requests atomic.Int32
	env := newEnv(t, func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		w.WriteHeader(http.StatusMultiStatus)
		listingXML(w, 1000, func(i int) {
			if i == 500 {
				cutConnection(t, w)
				panic(http.ErrAbortHandler)
			}
		})
	})
	count := 0
	_, err := env.c.List(context.Background(), "big", func(Entry) error { count++; return nil })
	if !errors.Is(err, ErrTransient) {
		t.Errorf("err = %v, want ErrTransient", err)
	}
	if count != 500 || requests.Load() != 1 {
		t.Errorf("count %d requests %d: entries yielded stand and are not relisted", count, requests.Load())
	}
}

func TestListCutBeforeChildrenIsRetried(t *testing.T) {
	var requests atomic.Int32
	env := newEnv(t, func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusMultiStatus)
		if requests.Add(1) == 1 {
			io.WriteString(w, `<?xml version="1.0"?><d:multistatus xmlns:d="DAV:"><d:resp`)
			cutConnection(t, w)
			panic(http.ErrAbortHandler)
		}
		listingXML(w, 3, nil)
	})
	count := 0
	_, err := env.c.List(context.Background(), "big", func(Entry) error { count++; return nil })
	if err != nil || count != 3 || requests.Load() != 2 {
		t.Errorf("err %v count %d requests %d", err, count, requests.Load())
	}
}

func TestListNotWebDAV(t *testing.T) {
	for name, h := range map[string]http.HandlerFunc{
		"200 html": func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/html")
			io.WriteString(w, "<html><body>Please log in</body></html>")
		},
		"207 html": func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusMultiStatus)
			io.WriteString(w, "<!DOCTYPE html><html><body>Please log in</body></html>")
		},
		"207 truncated": func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusMultiStatus)
			b := ms(resp("/remote.php/dav/files/admin/big/", dirProps), resp("/remote.php/dav/files/admin/big/a", fileProps))
			w.Write(b[:len(b)-20])
		},
		"207 without self": func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusMultiStatus)
			w.Write(ms(resp("/remote.php/dav/files/admin/big/a", fileProps)))
		},
	} {
		t.Run(name, func(t *testing.T) {
			env := newEnv(t, h)
			_, err := env.c.List(context.Background(), "big", func(Entry) error { return nil })
			var e *Error
			if !errors.As(err, &e) || e.Kind != ErrBadResponse || errors.Is(err, ErrTransient) {
				t.Errorf("err = %v", err)
			}
			if strings.Contains(name, "html") && !strings.Contains(err.Error(), "not a WebDAV endpoint") {
				t.Errorf("message does not say what is wrong: %v", err)
			}
		})
	}
}

func TestListCallbackErrorReturned(t *testing.T) {
	env := newEnv(t, func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusMultiStatus)
		listingXML(w, 10, nil)
	})
	stop := errors.New("disk full")
	_, err := env.c.List(context.Background(), "big", func(Entry) error { return stop })
	if !errors.Is(err, stop) {
		t.Errorf("err = %v", err)
	}
}

// Only the root's listing asks for the quota: statfs needs it, and on servers whose
// folders are relisted (generic WebDAV) the root's listing is where it comes from.
func TestOnlyTheRootListingAsksForQuota(t *testing.T) {
	bodies := make(chan string, 8)
	env := newEnv(t, func(w http.ResponseWriter, r *http.Request) {
		bodies <- r.URL.Path + " " + string(drain(r))
		sabreError(w, http.StatusNotFound, "gone")
	})
	env.c.List(context.Background(), "", func(Entry) error { return nil })
	env.c.List(context.Background(), "big", func(Entry) error { return nil })
	for _, want := range []struct {
		path  string
		quota bool
	}{{"/remote.php/dav/files/admin/", true}, {"/remote.php/dav/files/admin/big/", false}} {
		got := <-bodies
		path, body, _ := strings.Cut(got, " ")
		if path != want.path {
			t.Fatalf("request for %q, want %q", path, want.path)
		}
		asks := strings.Contains(body, "<d:quota-available-bytes/>") && strings.Contains(body, "<d:quota-used-bytes/>")
		if asks != want.quota || !strings.Contains(body, "<oc:fileid/>") {
			t.Errorf("listing of %q asks for quota: %v, want %v:\n%s", path, asks, want.quota, body)
		}
	}
}
