package main

import (
	"bufio"
	"context"
	"encoding/xml"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ncvfs/ncvfs/internal/benchtool/treespec"
)

// multistatus is the part of a PROPFIND answer the test checks.
type multistatus struct {
	Responses []struct {
		Href     string `xml:"href"`
		Propstat []struct {
			Prop struct {
				Length   string `xml:"getcontentlength"`
				Modified string `xml:"getlastmodified"`
			} `xml:"prop"`
			Status string `xml:"status"`
		} `xml:"propstat"`
	} `xml:"response"`
}

func writePassword(t *testing.T, pw string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(p, []byte(pw), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// startServer runs the command until the test ends and returns its URL.
func startServer(t *testing.T, tree, password string) string {
	t.Helper()
	url, _ := startServerArgs(t, tree, password)
	return url
}

// startServerArgs is startServer with extra flags; it also returns the rest of the
// ready line after the URL.
func startServerArgs(t *testing.T, tree, password string, extra ...string) (url, rest string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	args := []string{"--user", "u1", "--password-file", writePassword(t, password+"\n"), "--tree", tree}
	args = append(args, extra...)
	go func() {
		err := run(ctx, args, pw, io.Discard)
		pw.CloseWithError(io.EOF)
		done <- err
	}()
	t.Cleanup(func() {
		cancel()
		go io.Copy(io.Discard, pr)
		if err := <-done; err != nil {
			t.Errorf("run ended with %v after cancel, want nil", err)
		}
	})
	line, err := bufio.NewReader(pr).ReadString('\n')
	if err != nil {
		t.Fatalf("no ready line: %v", err)
	}
	url, ok := strings.CutPrefix(strings.TrimSpace(line), "ready ")
	url, rest, _ = strings.Cut(url, " ")
	if !ok || !strings.HasPrefix(url, "http://127.0.0.1:") {
		t.Fatalf("first line %q, want ready http://127.0.0.1:PORT", line)
	}
	return url, rest
}

func propfind(t *testing.T, url, user, password string) (*http.Response, multistatus) {
	t.Helper()
	req, err := http.NewRequest("PROPFIND", url, strings.NewReader(""))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Depth", "1")
	req.SetBasicAuth(user, password)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var ms multistatus
	if resp.StatusCode == http.StatusMultiStatus {
		if err := xml.NewDecoder(resp.Body).Decode(&ms); err != nil {
			t.Fatalf("decode the multistatus: %v", err)
		}
	}
	return resp, ms
}

func TestServesTheGeneratedTree(t *testing.T) {
	const tree = "flat=25,tree=3x4"
	base := startServer(t, tree, "s3cret")
	spec, _ := treespec.Parse(tree)
	want, _ := spec.FolderEntries("flat")

	resp, ms := propfind(t, base+"/remote.php/dav/files/u1/flat/", "u1", "s3cret")
	if resp.StatusCode != http.StatusMultiStatus {
		t.Fatalf("PROPFIND answered %s", resp.Status)
	}
	if len(ms.Responses) != 1+len(want) {
		t.Fatalf("flat lists %d responses, want itself + %d", len(ms.Responses), len(want))
	}
	byName := map[string]treespec.Entry{}
	for _, e := range want {
		byName[filepath.Base(e.Path)] = e
	}
	for _, r := range ms.Responses[1:] {
		e, ok := byName[filepath.Base(r.Href)]
		if !ok {
			t.Errorf("unexpected item %s", r.Href)
			continue
		}
		prop := r.Propstat[0].Prop
		if prop.Length != strconv.FormatInt(e.Size, 10) {
			t.Errorf("%s: length %s, want %d", r.Href, prop.Length, e.Size)
		}
		mod, err := http.ParseTime(prop.Modified)
		if err != nil || !mod.Equal(e.ModTime) {
			t.Errorf("%s: modified %q, want %v", r.Href, prop.Modified, e.ModTime)
		}
	}

	_, sub := propfind(t, base+"/remote.php/dav/files/u1/tree/", "u1", "s3cret")
	if len(sub.Responses) != 1+3 {
		t.Errorf("tree lists %d responses, want itself + 3 subfolders", len(sub.Responses))
	}
	_, leaf := propfind(t, base+"/remote.php/dav/files/u1/tree/dir-0002/", "u1", "s3cret")
	if len(leaf.Responses) != 1+4 {
		t.Errorf("tree/dir-0002 lists %d responses, want itself + 4 files", len(leaf.Responses))
	}

	if resp, _ := propfind(t, base+"/remote.php/dav/files/u1/flat/", "u1", "wrong"); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("a wrong password got %s, want 401", resp.Status)
	}
}

func TestRefusesBadArguments(t *testing.T) {
	good := writePassword(t, "pw")
	empty := writePassword(t, "\n")
	for name, args := range map[string][]string{
		"no password file":      {"--tree", "a=1"},
		"missing password file": {"--password-file", filepath.Join(t.TempDir(), "none")},
		"empty password":        {"--password-file", empty},
		"bad tree":              {"--password-file", good, "--tree", "a=-1"},
		"stray argument":        {"--password-file", good, "extra"},
		"bad log level":         {"--password-file", good, "--log-level", "loud"},
		"unknown flag":          {"--password", "pw"},
		"stats on all hosts":    {"--password-file", good, "--stats-addr", "0.0.0.0:0"},
		"stats on a name":       {"--password-file", good, "--stats-addr", "example.com:0"},
		"stats without a port":  {"--password-file", good, "--stats-addr", "127.0.0.1"},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		var out strings.Builder
		err := run(ctx, args, &out, io.Discard)
		cancel()
		if err == nil {
			t.Errorf("%s: run succeeded, want an error", name)
		}
		if out.Len() != 0 {
			t.Errorf("%s: printed %q before failing", name, out.String())
		}
	}
}
