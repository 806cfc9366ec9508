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
