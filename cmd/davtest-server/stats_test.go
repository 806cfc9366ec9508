package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/ncvfs/ncvfs/davclient/davtest"
	"github.com/ncvfs/ncvfs/internal/benchtool/treespec"
)

func readCounts(t *testing.T, statsURL string) countsJSON {
	t.Helper()
	resp, err := http.Get(statsURL + "/counts")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /counts answered %s", resp.Status)
	}
	var c countsJSON
	if err := json.NewDecoder(resp.Body).Decode(&c); err != nil {
		t.Fatalf("decode the counts: %v", err)
	}
	return c
}

// The counters port reports the bytes a ranged GET sent, serves the file's synthetic
// content, and zeroes on reset; reading the counters does not count as a request.
func TestStatsCountTheBytesSentAndReset(t *testing.T) {
	const tree = "big=1:1M"
	base, rest := startServerArgs(t, tree, "pw", "--stats-addr", "127.0.0.1:0")
	statsURL, ok := strings.CutPrefix(rest, "stats ")
	if !ok || !strings.HasPrefix(statsURL, "http://127.0.0.1:") || statsURL == base {
		t.Fatalf("ready line ends with %q, want stats http://127.0.0.1:OTHERPORT", rest)
	}
	if c := readCounts(t, statsURL); len(c.Requests) != 0 || c.ResponseBytes["GET"] != 0 {
		t.Errorf("counts before any request: %+v", c)
	}

	spec, _ := treespec.Parse(tree)
	entries, _ := spec.FolderEntries("big")
	req, _ := http.NewRequest("GET", base+"/remote.php/dav/files/u1/"+entries[0].Path, nil)
	req.SetBasicAuth("u1", "pw")
	req.Header.Set("Range", "bytes=1000-5095")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusPartialContent {
		t.Fatalf("ranged GET: %s, %v", resp.Status, err)
	}
	if !bytes.Equal(body, davtest.SyntheticBytes(entries[0].Seed, 1000, 4096)) {
		t.Error("the ranged GET did not serve the file's synthetic content")
	}

	c := readCounts(t, statsURL)
	if c.Requests["GET"] != 1 || c.ResponseBytes["GET"] != 4096 {
		t.Errorf("after one 4 KiB GET: requests %v, response bytes %v", c.Requests, c.ResponseBytes)
	}
	resp, err = http.Post(statsURL+"/counts/reset", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		t.Errorf("reset answered %s, want 204", resp.Status)
	}
	if c := readCounts(t, statsURL); c.Requests["GET"] != 0 || c.ResponseBytes["GET"] != 0 {
		t.Errorf("counts after reset: %+v", c)
	}
	// Only the two documented routes exist.
	resp, err = http.Get(statsURL + "/counts/reset")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET /counts/reset answered %s, want 405", resp.Status)
	}
}

func TestWithoutStatsAddrTheReadyLineIsJustTheURL(t *testing.T) {
	if _, rest := startServerArgs(t, "a=1", "pw"); rest != "" {
		t.Errorf("ready line has %q after the URL", rest)
	}
}

// statsJSON GETs a stats path and decodes its JSON answer into v; it returns the status.
func statsJSON(t *testing.T, url string, v any) int {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusOK {
		if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
			t.Fatalf("decode %s: %v", url, err)
		}
	}
	return resp.StatusCode
}

// The folder endpoints see a PUT's file with its size and hash, tell a rewrite by its
// version, and reset the folder to empty.
func TestFolderEndpointsSeeUploadsAndReset(t *testing.T) {
	base, rest := startServerArgs(t, "a=1", "pw", "--stats-addr", "127.0.0.1:0")
	statsURL, _ := strings.CutPrefix(rest, "stats ")
	send := func(method, p, body string) {
		req, _ := http.NewRequest(method, base+"/remote.php/dav/files/u1/"+p, strings.NewReader(body))
		req.SetBasicAuth("u1", "pw")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode/100 != 2 {
			t.Fatalf("%s %s: %s", method, p, resp.Status)
		}
	}
	put := func(p, body string) { send("PUT", p, body) }
	reset := func(p string) int {
		resp, err := http.Post(statsURL+"/folder/reset?path="+p, "", nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := reset("w"); code != http.StatusNoContent {
		t.Fatalf("reset of a new folder answered %d", code)
	}
	put("w/x.txt", "hello")
	send("MKCOL", "w/sub", "")
	put("w/sub/y.txt", "abc")
	var f folderJSON
	if code := statsJSON(t, statsURL+"/folder?path=w", &f); code != http.StatusOK || f.Files != 2 || f.Bytes != 8 {
		t.Fatalf("GET /folder: %d %+v, want 2 files of 8 bytes", code, f)
	}
	put("w/x.txt", "HELLO")
	var g folderJSON
	statsJSON(t, statsURL+"/folder?path=w", &g)
	if g.Files != 2 || g.Bytes != 8 || g.Version == f.Version {
		t.Errorf("after a same-size rewrite %+v, before %+v", g, f)
	}
	var sums struct{ Files map[string]string }
	statsJSON(t, statsURL+"/folder/sha256?path=w", &sums)
	want := map[string]string{ // sha256sum of "HELLO" and of "abc"
		"x.txt":     "3733cd977ff8eb18b987357e22ced99f46097f31ecb239e878ae63760e83e4d5",
		"sub/y.txt": "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
	}
	if len(sums.Files) != len(want) || sums.Files["x.txt"] != want["x.txt"] || sums.Files["sub/y.txt"] != want["sub/y.txt"] {
		t.Errorf("sha256: %v, want %v", sums.Files, want)
	}
	if code := reset("w"); code != http.StatusNoContent {
		t.Fatalf("reset answered %d", code)
	}
	var h folderJSON
	if code := statsJSON(t, statsURL+"/folder?path=w", &h); code != http.StatusOK || h.Files != 0 || h.Bytes != 0 {
		t.Errorf("after reset: %d %+v, want an empty folder", code, h)
	}
	if code := statsJSON(t, statsURL+"/folder?path=nope", &h); code != http.StatusNotFound {
		t.Errorf("a missing folder answered %d, want 404", code)
	}
	if code := reset(""); code != http.StatusBadRequest {
		t.Errorf("reset of the root answered %d, want 400", code)
	}
}
