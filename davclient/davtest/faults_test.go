package davtest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestFaultStatusNth(t *testing.T) {
	s := newTestServer(t, Options{})
	wireTree(t, s)
	remove := s.AddFault(Fault{Method: "PROPFIND", PathPrefix: "/remote.php/dav/files/admin/wire", Nth: 2, Status: http.StatusServiceUnavailable})
	// A GET matches no fault and does not count towards Nth.
	resp, body := call(t, s, http.MethodGet, "wire/a.txt", "")
	wantStatus(t, resp, body, http.StatusOK)
	resp, body = call(t, s, "PROPFIND", "wire/", "", "Depth", "0")
	wantStatus(t, resp, body, http.StatusMultiStatus)
	resp, body = call(t, s, "PROPFIND", "wire/", "", "Depth", "0")
	wantStatus(t, resp, body, http.StatusServiceUnavailable)
	if !strings.Contains(body, `Sabre\DAV\Exception\ServiceUnavailable`) {
		t.Errorf("fault body %s", body)
	}
	resp, body = call(t, s, "PROPFIND", "wire/", "", "Depth", "0")
	wantStatus(t, resp, body, http.StatusMultiStatus)

	every := s.AddFault(Fault{Method: "GET", Status: http.StatusInternalServerError})
	for range 2 {
		resp, body = call(t, s, http.MethodGet, "wire/a.txt", "")
		wantStatus(t, resp, body, http.StatusInternalServerError)
	}
	every()
	every() // removing twice is harmless
	remove()
	resp, body = call(t, s, http.MethodGet, "wire/a.txt", "")
	wantStatus(t, resp, body, http.StatusOK)
}

func TestFaultBody(t *testing.T) {
	s := newTestServer(t, Options{})
	hostile := []byte(`<?xml version="1.0"?><d:multistatus xmlns:d="DAV:"><d:response><d:href>/etc/passwd`)
	defer s.AddFault(Fault{Method: "PROPFIND", Body: hostile})()
	resp, body := call(t, s, "PROPFIND", "", "", "Depth", "1")
	wantStatus(t, resp, body, http.StatusMultiStatus)
	if body != string(hostile) {
		t.Errorf("fault body %q", body)
	}
	remove := s.AddFault(Fault{Method: "GET", Body: []byte("nope"), Status: http.StatusTeapot})
	defer remove()
	resp, body = call(t, s, http.MethodGet, "x", "")
	wantStatus(t, resp, body, http.StatusTeapot)
}

func TestFaultCutAfter(t *testing.T) {
	s := newTestServer(t, Options{})
	if _, err := s.WriteSynthetic("big.bin", 100_000, 1, time.Time{}); err != nil {
		t.Fatal(err)
	}
	remove := s.AddFault(Fault{Method: "GET", CutAfter: 1000})
	resp, err := http.DefaultClient.Do(req(t, s, http.MethodGet, "/remote.php/dav/files/admin/big.bin", ""))
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err == nil || len(got) != 1000 {
		t.Fatalf("cut GET: read %d bytes, err %v; want 1000 bytes and an error", len(got), err)
	}
	if string(got) != string(SyntheticBytes(1, 0, 1000)) {
		t.Error("the bytes before the cut are wrong")
	}
	remove()

	for i := range 50 {
		if _, err := s.WriteFile(fmt.Sprintf("many/%s%03d", strings.Repeat("x", 40), i), nil, time.Time{}); err != nil {
			t.Fatal(err)
		}
	}
	defer s.AddFault(Fault{Method: "PROPFIND", CutAfter: 2000})()
	resp, err = http.DefaultClient.Do(req(t, s, "PROPFIND", "/remote.php/dav/files/admin/many/", "", "Depth", "1"))
	if err != nil {
		t.Fatal(err)
	}
	got, err = io.ReadAll(resp.Body)
	resp.Body.Close()
	if err == nil || len(got) != 2000 {
		t.Errorf("cut PROPFIND: read %d bytes, err %v", len(got), err)
	}
}

func TestFaultAbort(t *testing.T) {
	s := newTestServer(t, Options{})
	remove := s.AddFault(Fault{PathPrefix: "/remote.php/dav/files/", Abort: true})
	_, err := http.DefaultClient.Do(req(t, s, "PROPFIND", "/remote.php/dav/files/admin/", "", "Depth", "0"))
	if err == nil {
		t.Fatal("an aborted request must fail on the client")
	}
	remove()
	resp, body := call(t, s, "PROPFIND", "", "", "Depth", "0")
	wantStatus(t, resp, body, http.StatusMultiStatus)
}

func TestFaultDelay(t *testing.T) {
	s := newTestServer(t, Options{})
	remove := s.AddFault(Fault{Method: "PROPFIND", Delay: 30 * time.Millisecond})
	start := time.Now()
	resp, body := call(t, s, "PROPFIND", "", "", "Depth", "0")
	wantStatus(t, resp, body, http.StatusMultiStatus)
	if d := time.Since(start); d < 30*time.Millisecond {
		t.Errorf("delayed answer came after %v", d)
	}
	remove()

	defer s.AddFault(Fault{Method: "PROPFIND", Delay: time.Hour})()
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err := http.DefaultClient.Do(req(t, s, "PROPFIND", "/remote.php/dav/files/admin/", "", "Depth", "0").WithContext(ctx))
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("a cancelled client must not wait for the delay: %v", err)
	}
	// Close (in Cleanup) must not hang on the delayed handler.
}

func TestFaultThrottle(t *testing.T) {
	s := newTestServer(t, Options{})
	if _, err := s.WriteSynthetic("t.bin", 4000, 9, time.Time{}); err != nil {
		t.Fatal(err)
	}
	defer s.AddFault(Fault{Method: "GET", BytesPerSecond: 20000})()
	start := time.Now()
	resp, body := call(t, s, http.MethodGet, "t.bin", "")
	wantStatus(t, resp, body, http.StatusOK)
	if d := time.Since(start); d < 190*time.Millisecond {
		t.Errorf("4000 bytes at 20000 B/s took only %v", d)
	}
	if body != string(SyntheticBytes(9, 0, 4000)) {
		t.Error("throttled body differs")
	}
}

func TestCounts(t *testing.T) {
	s := newTestServer(t, Options{})
	wireTree(t, s)
	s.ResetCounts()
	call(t, s, http.MethodPut, "wire/n.txt", "0123456789")
	call(t, s, http.MethodGet, "wire/a.txt", "")
	call(t, s, http.MethodGet, "wire/a.txt", "", "Range", "bytes=0-4")
	c := s.Counts()
	if c.Requests["PUT"] != 1 || c.Requests["GET"] != 2 || c.Total() != 3 {
		t.Errorf("requests %v total %d", c.Requests, c.Total())
	}
	if c.RequestBytes["PUT"] != 10 || c.ResponseBytes["GET"] != 35+5 {
		t.Errorf("bytes: request %v response %v", c.RequestBytes, c.ResponseBytes)
	}
	s.ResetCounts()
	if c := s.Counts(); c.Total() != 0 || len(c.ResponseBytes) != 0 {
		t.Errorf("after reset %+v", c)
	}
}

func TestFaultStallAfter(t *testing.T) {
	s := newTestServer(t, Options{})
	if _, err := s.WriteSynthetic("big.bin", 100_000, 1, time.Time{}); err != nil {
		t.Fatal(err)
	}
	defer s.AddFault(Fault{Method: "GET", StallAfter: 1000})()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	r := req(t, s, http.MethodGet, "/remote.php/dav/files/admin/big.bin", "").WithContext(ctx)
	resp, err := http.DefaultClient.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	got := make([]byte, 1000)
	if _, err := io.ReadFull(resp.Body, got); err != nil || string(got) != string(SyntheticBytes(1, 0, 1000)) {
		t.Fatalf("the bytes before the stall: %v", err)
	}
	more := make(chan error, 1)
	go func() {
		_, err := resp.Body.Read(make([]byte, 1))
		more <- err
	}()
	select {
	case err := <-more:
		t.Fatalf("a byte (or an end: %v) came after the stall", err)
	case <-time.After(200 * time.Millisecond):
	}
	cancel() // the client giving up ends it
	if err := <-more; err == nil {
		t.Error("the stalled body ended without an error")
	}
}

// A file locked by another client's upload: 423 for a while, then served again.
func TestFaultFor(t *testing.T) {
	s := newTestServer(t, Options{})
	wireTree(t, s)
	s.AddFault(Fault{Method: "GET", Status: http.StatusLocked, For: 200 * time.Millisecond})
	resp, body := call(t, s, http.MethodGet, "wire/a.txt", "")
	wantStatus(t, resp, body, http.StatusLocked)
	if !strings.Contains(body, `OCA\DAV\Connector\Sabre\Exception\FileLocked`) {
		t.Errorf("423 body %s", body)
	}
	resp, body = call(t, s, "PROPFIND", "wire/", "", "Depth", "0")
	wantStatus(t, resp, body, http.StatusMultiStatus)
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, body = call(t, s, http.MethodGet, "wire/a.txt", "")
		if resp.StatusCode != http.StatusLocked || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	wantStatus(t, resp, body, http.StatusOK)
}

func TestFaultCutRequestAfter(t *testing.T) {
	s := newTestServer(t, Options{RecordRequests: true})
	remove := s.AddFault(Fault{Method: "PUT", CutRequestAfter: 1000})
	body := strings.Repeat("x", 200_000)
	if _, err := http.DefaultClient.Do(req(t, s, http.MethodPut, "/remote.php/dav/files/admin/cut.txt", body)); err == nil {
		t.Fatal("a PUT whose connection was dropped mid-body succeeded")
	}
	if _, err := s.Stat("cut.txt"); err == nil {
		t.Error("a PUT cut mid-body stored a file")
	}
	remove()
	resp, rb := call(t, s, http.MethodPut, "cut.txt", body)
	wantStatus(t, resp, rb, http.StatusCreated)
	recs := s.Requests()
	if len(recs) != 2 || recs[0].Status != 0 || !recs[0].Fault || !recs[0].Dropped ||
		recs[1].Status != http.StatusCreated || recs[1].Fault || recs[1].Dropped {
		t.Errorf("request record %+v", recs)
	}
}

func TestFaultDropAnswer(t *testing.T) {
	s := newTestServer(t, Options{RecordRequests: true})
	defer s.AddFault(Fault{Method: "PUT", DropAnswer: true})()
	if resp, err := http.DefaultClient.Do(req(t, s, http.MethodPut, "/remote.php/dav/files/admin/kept.txt", "stored")); err == nil {
		resp.Body.Close()
		t.Fatalf("the answer reached the client: %s", resp.Status)
	}
	if b, err := s.ReadFile("kept.txt"); err != nil || string(b) != "stored" {
		t.Errorf("the request did not take effect: %q, %v", b, err)
	}
	recs := s.Requests()
	if len(recs) != 1 || recs[0].Status != http.StatusCreated || !recs[0].Dropped || recs[0].Path != "/remote.php/dav/files/admin/kept.txt" {
		t.Errorf("request record %+v", recs)
	}
	s.ResetCounts()
	if recs := s.Requests(); len(recs) != 0 {
		t.Errorf("ResetCounts kept %d records", len(recs))
	}
}

// Stop refuses connections while the tree still changes through the API; Resume
// serves the changed tree on the same address.
func TestStopRefusesAndResumeServesAgain(t *testing.T) {
	s := newTestServer(t, Options{})
	wireTree(t, s)
	url := s.URL()
	s.Stop()
	s.Stop() // harmless twice
	r, err := http.NewRequest(http.MethodGet, s.FilesURL()+"wire/a.txt", nil)
	if err != nil {
		t.Fatal(err)
	}
	r.SetBasicAuth(testUser, testPass)
	if resp, err := http.DefaultClient.Do(r); err == nil {
		resp.Body.Close()
		t.Fatalf("a stopped server answered %d", resp.StatusCode)
	}
	if _, err := s.WriteFile("wire/a.txt", []byte("changed while away"), time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := s.Resume(); err != nil {
		t.Fatal(err)
	}
	if s.URL() != url {
		t.Fatalf("URL %s after Resume, was %s", s.URL(), url)
	}
	resp, body := call(t, s, http.MethodGet, "wire/a.txt", "")
	wantStatus(t, resp, body, http.StatusOK)
	if body != "changed while away" {
		t.Fatalf("body %q after Resume", body)
	}
}
