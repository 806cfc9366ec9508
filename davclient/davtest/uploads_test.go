package davtest

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

func uploadCall(t *testing.T, s *Server, method, rel, body string, hdr ...string) (*http.Response, string) {
	t.Helper()
	return do(t, req(t, s, method, "/remote.php/dav/uploads/admin/"+rel, body, hdr...))
}

func TestChunkedUpload(t *testing.T) {
	s := newTestServer(t, Options{})
	wireTree(t, s)
	target := dest(s, "wire/chunked.bin")
	chunks := []string{strings.Repeat("a", 1000), strings.Repeat("b", 1000), "tail"}
	total := "2004"

	resp, body := uploadCall(t, s, "MKCOL", "up-1", "", "Destination", target, "OC-Total-Length", total)
	wantStatus(t, resp, body, http.StatusCreated)
	resp, body = uploadCall(t, s, "MKCOL", "up-1", "")
	wantStatus(t, resp, body, http.StatusMethodNotAllowed)
	// Sent out of order: the server joins them by name.
	for _, i := range []int{2, 0, 1} {
		name := []string{"00001", "00002", "00003"}[i]
		resp, body = uploadCall(t, s, http.MethodPut, "up-1/"+name, chunks[i], "Destination", target, "OC-Total-Length", total)
		wantStatus(t, resp, body, http.StatusCreated)
	}

	resp, body = uploadCall(t, s, "PROPFIND", "up-1", "", "Depth", "1")
	wantStatus(t, resp, body, http.StatusMultiStatus)
	ms := parseMultistatus(t, body)
	base := "/remote.php/dav/uploads/admin/up-1/"
	want := []string{base, base + ".file", base + "00001", base + "00002", base + "00003"}
	if strings.Join(ms.hrefs, " ") != strings.Join(want, " ") {
		t.Fatalf("upload listing %v", ms.hrefs)
	}
	if p := ms.get(t, base+".file", "d:getcontentlength"); p.text != total {
		t.Errorf(".file size %q, want %s", p.text, total)
	}
	if p := ms.get(t, base+"00003", "d:getcontentlength"); p.text != "4" {
		t.Errorf("chunk size %q", p.text)
	}

	resp, body = uploadCall(t, s, "MOVE", "up-1/.file", "", "Destination", target, "OC-Total-Length", "999")
	wantStatus(t, resp, body, http.StatusBadRequest)
	if !strings.Contains(body, "Chunks on server do not sum up to 999 but to 2004 bytes") {
		t.Errorf("wrong total body %s", body)
	}

	resp, body = uploadCall(t, s, "MOVE", "up-1/.file", "", "Destination", target, "OC-Total-Length", total,
		"X-OC-Mtime", "1600000000", "OC-Checksum", "SHA1:71704e997b0f3d146bdcd43205b1f31dfa16ffb2")
	wantStatus(t, resp, body, http.StatusCreated)
	info, err := s.Stat("wire/chunked.bin")
	if err != nil {
		t.Fatal(err)
	}
	if resp.Header.Get("ETag") != info.ETag || resp.Header.Get("OC-ETag") != info.ETag ||
		resp.Header.Get("OC-FileId") != ocID(info.FileID) || resp.Header.Get("X-OC-MTime") != "accepted" {
		t.Errorf("final MOVE headers %v, file %+v", resp.Header, info)
	}
	if !info.ModTime.Equal(time.Unix(1600000000, 0)) || info.Checksum != "SHA1:71704e997b0f3d146bdcd43205b1f31dfa16ffb2" {
		t.Errorf("assembled file %+v", info)
	}
	got, _ := s.ReadFile("wire/chunked.bin")
	if string(got) != strings.Join(chunks, "") {
		t.Errorf("assembled content is wrong (%d bytes)", len(got))
	}
	resp, body = call(t, s, http.MethodGet, "wire/chunked.bin", "", "Range", "bytes=998-1001")
	wantStatus(t, resp, body, http.StatusPartialContent)
	if body != "aabb" {
		t.Errorf("range across chunks %q", body)
	}
	resp, body = uploadCall(t, s, "PROPFIND", "up-1", "", "Depth", "0")
	wantStatus(t, resp, body, http.StatusNotFound)
	if wire, _ := s.Stat("wire"); wire.Size != 35+2004 {
		t.Errorf("folder size after chunked upload %d", wire.Size)
	}
}

func TestChunkedUpdateConditions(t *testing.T) {
	s := newTestServer(t, Options{})
	wireTree(t, s)
	old, _ := s.Stat("wire/a.txt")
	target := dest(s, "wire/a.txt")
	start := func(id string) {
		t.Helper()
		resp, body := uploadCall(t, s, "MKCOL", id, "", "Destination", target)
		wantStatus(t, resp, body, http.StatusCreated)
		resp, body = uploadCall(t, s, http.MethodPut, id+"/00001", "new content", "Destination", target)
		wantStatus(t, resp, body, http.StatusCreated)
	}
	start("u1")
	resp, body := uploadCall(t, s, "MOVE", "u1/.file", "", "Destination", target, "If", "<"+target+`> (["stale"])`)
	wantStatus(t, resp, body, http.StatusPreconditionFailed)
	resp, body = uploadCall(t, s, "MOVE", "u1/.file", "", "Destination", target, "If", "<"+target+"> (["+old.ETag+"])")
	wantStatus(t, resp, body, http.StatusNoContent)
	now, _ := s.Stat("wire/a.txt")
	if now.FileID != old.FileID || now.ETag == old.ETag {
		t.Errorf("update must keep the id and change the ETag: %+v -> %+v", old, now)
	}

	start("u2")
	resp, body = uploadCall(t, s, http.MethodDelete, "u2", "")
	wantStatus(t, resp, body, http.StatusNoContent)
	resp, body = uploadCall(t, s, "MOVE", "u2/.file", "", "Destination", target)
	wantStatus(t, resp, body, http.StatusNotFound)
	resp, body = uploadCall(t, s, http.MethodPut, "u2/00001", "x")
	wantStatus(t, resp, body, http.StatusNotFound)
}

// Sabre checks Overwrite: F before the chunking plugin assembles the file.
func TestChunkedUploadOverwriteF(t *testing.T) {
	s := newTestServer(t, Options{})
	wireTree(t, s)
	target := dest(s, "wire/a.txt")
	before, err := s.ReadFile("wire/a.txt")
	if err != nil {
		t.Fatal(err)
	}
	resp, body := uploadCall(t, s, "MKCOL", "up-f", "", "Destination", target)
	wantStatus(t, resp, body, http.StatusCreated)
	resp, body = uploadCall(t, s, http.MethodPut, "up-f/00001", "new bytes", "Destination", target)
	wantStatus(t, resp, body, http.StatusCreated)
	resp, body = uploadCall(t, s, "MOVE", "up-f/.file", "", "Destination", target, "Overwrite", "F")
	wantStatus(t, resp, body, http.StatusPreconditionFailed)
	if after, _ := s.ReadFile("wire/a.txt"); string(after) != string(before) {
		t.Errorf("Overwrite: F replaced the file: %q", after)
	}
	resp, body = uploadCall(t, s, "MOVE", "up-f/.file", "", "Destination", dest(s, "wire/new.txt"), "Overwrite", "F")
	wantStatus(t, resp, body, http.StatusCreated)
}
