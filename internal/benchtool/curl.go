package main

import (
	"bytes"
	"context"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/ncvfs/ncvfs/davclient"
)

// curlRunner times raw WebDAV requests with curl: the floor any client pays for the
// same answers. Credentials come from a 0600 netrc file, never the command line.
type curlRunner struct {
	filesURL string
	netrc    string
	body     string
	dir      string // where request config files are written
}

func newCurlRunner(env *benchEnv) (*curlRunner, error) {
	u, err := url.Parse(env.serverURL)
	if err != nil {
		return nil, fmt.Errorf("benchtool: server URL: %w", err)
	}
	netrc, err := netrcEntry(u.Hostname(), env.user, env.password)
	if err != nil {
		return nil, err
	}
	c := &curlRunner{
		filesURL: env.filesURL(),
		netrc:    filepath.Join(env.root, "curl.netrc"),
		body:     filepath.Join(env.root, "propfind.xml"),
		dir:      env.root,
	}
	if err := os.WriteFile(c.netrc, []byte(netrc), 0o600); err != nil {
		return nil, fmt.Errorf("benchtool: %w", err)
	}
	if err := os.WriteFile(c.body, []byte(davclient.ListBody), 0o600); err != nil {
		return nil, fmt.Errorf("benchtool: %w", err)
	}
	return c, nil
}

// netrcEntry is one netrc line. netrc has no quoting every curl understands, so
// credentials with blanks or quotes are refused (the driver generates its password).
func netrcEntry(host, user, password string) (string, error) {
	for _, s := range []string{host, user, password} {
		if s == "" || strings.ContainsAny(s, " \t\r\n\"'\\#") {
			return "", fmt.Errorf("benchtool: host, user and password must be non-empty and free of blanks and quotes for a netrc file")
		}
	}
	return fmt.Sprintf("machine %s login %s password %s\n", host, user, password), nil
}

// folderURL is the collection URL of a slash path relative to the files root.
func (c *curlRunner) folderURL(rel string) string {
	var b strings.Builder
	b.WriteString(c.filesURL)
	for el := range strings.SplitSeq(strings.Trim(rel, "/"), "/") {
		if el != "" {
			b.WriteString(url.PathEscape(el) + "/")
		}
	}
	return b.String()
}

// fileURL is the URL of a file, a slash path relative to the files root.
func (c *curlRunner) fileURL(rel string) string {
	return strings.TrimSuffix(c.folderURL(rel), "/")
}

// requestConfig is a curl config file that PROPFINDs each URL in turn, answers to
// /dev/null. One curl process for all of them keeps one connection open, as a client does.
func requestConfig(urls []string) string {
	var b strings.Builder
	for _, u := range urls {
		fmt.Fprintf(&b, "url = %q\noutput = \"/dev/null\"\n", u)
	}
	return b.String()
}

// propfind times sequential Depth-1 PROPFINDs of folders (slash paths relative to the
// files root) in one curl process, and checks that every answer was 207.
func (c *curlRunner) propfind(ctx context.Context, folders []string) (time.Duration, error) {
	urls := make([]string, len(folders))
	for i, f := range folders {
		urls[i] = c.folderURL(f)
	}
	out, elapsed, err := c.runConfig(ctx, requestConfig(urls),
		"-X", "PROPFIND", "-H", "Depth: 1", "-H", "Content-Type: application/xml; charset=utf-8",
		"--data-binary", "@"+c.body,
		"-w", `%{http_code}\n`)
	if err != nil {
		return 0, fmt.Errorf("benchtool: curl PROPFIND: %w", err)
	}
	if err := checkStatuses(out, len(urls), "207"); err != nil {
		return 0, err
	}
	return elapsed, nil
}

// runConfig times one curl process that reads its URLs from a config file, with the
// credentials and the extra arguments; it returns curl's stdout (the -w lines).
func (c *curlRunner) runConfig(ctx context.Context, config string, args ...string) (string, time.Duration, error) {
	cfg, err := os.CreateTemp(c.dir, "curl-*.cfg")
	if err != nil {
		return "", 0, err
	}
	defer os.Remove(cfg.Name())
	_, err = cfg.WriteString(config)
	if cerr := cfg.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return "", 0, fmt.Errorf("config file: %w", err)
	}

	ctx, cancel := context.WithTimeout(ctx, commandTimeout)
	defer cancel()
	all := append([]string{"-sS", "-K", cfg.Name(), "--netrc-file", c.netrc}, args...)
	cmd := exec.CommandContext(ctx, "curl", all...)
	var stdout bytes.Buffer
	stderr := &limitedBuffer{max: 4 << 10}
	cmd.Stdout, cmd.Stderr = &stdout, stderr
	start := time.Now()
	err = cmd.Run()
	elapsed := time.Since(start)
	if err != nil {
		return "", 0, fmt.Errorf("%w: %s", err, strings.TrimSpace(stderr.String()))
	}
	return stdout.String(), elapsed, nil
}

// download times `curl -o dest` of one file, optionally of a byte range ("0-4095"), and
// checks the status: 200 for the whole file, 206 for a range.
func (c *curlRunner) download(ctx context.Context, rel, byteRange, dest string) (time.Duration, error) {
	config := fmt.Sprintf("url = %q\noutput = %q\n", c.fileURL(rel), dest)
	args := []string{"-w", `%{http_code}\n`}
	want := "200"
	if byteRange != "" {
		args = append(args, "-r", byteRange)
		want = "206"
	}
	out, elapsed, err := c.runConfig(ctx, config, args...)
	if err != nil {
		return 0, fmt.Errorf("benchtool: curl GET %s: %w", rel, err)
	}
	if err := checkStatuses(out, 1, want); err != nil {
		return 0, err
	}
	return elapsed, nil
}

// getEach times GETs of files one after the other in one curl process over one
// connection, answers to /dev/null, and checks that each was 200 with its size in bytes.
func (c *curlRunner) getEach(ctx context.Context, rels []string, sizes []int64) (time.Duration, error) {
	urls := make([]string, len(rels))
	for i, r := range rels {
		urls[i] = c.fileURL(r)
	}
	out, elapsed, err := c.runConfig(ctx, requestConfig(urls), "-w", `%{http_code} %{size_download}\n`)
	if err != nil {
		return 0, fmt.Errorf("benchtool: curl GET: %w", err)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != len(urls) {
		return 0, fmt.Errorf("benchtool: curl reported %d answers for %d GETs", len(lines), len(urls))
	}
	for i, l := range lines {
		if want := fmt.Sprintf("200 %d", sizes[i]); l != want {
			return 0, fmt.Errorf("benchtool: GET %d of %d: status and size %q, want %q", i+1, len(urls), l, want)
		}
	}
	return elapsed, nil
}

// checkStatuses checks curl's -w output: one wantCode per request.
func checkStatuses(out string, want int, wantCode string) error {
	codes := strings.Fields(out)
	if len(codes) != want {
		return fmt.Errorf("benchtool: curl reported %d answers for %d requests", len(codes), want)
	}
	for i, code := range codes {
		if code != wantCode {
			return fmt.Errorf("benchtool: request %d of %d answered %s, want %s", i+1, want, code, wantCode)
		}
	}
	return nil
}

// uploadConfig is a curl config file that PUTs each local file to its URL in turn
// (curl -T FILE URL, pairs in order): one process, one connection kept alive.
func uploadConfig(files, urls []string) string {
	var b strings.Builder
	for i, u := range urls {
		fmt.Fprintf(&b, "upload-file = %q\nurl = %q\noutput = \"/dev/null\"\n", files[i], u)
	}
	return b.String()
}

// putEach times PUTs of local files to the slash paths rels (relative to the files
// root), one after the other in one curl process, and checks that each created its
// file (201).
func (c *curlRunner) putEach(ctx context.Context, files, rels []string) (time.Duration, error) {
	if len(files) != len(rels) {
		return 0, fmt.Errorf("benchtool: %d files to PUT to %d paths", len(files), len(rels))
	}
	urls := make([]string, len(rels))
	for i, r := range rels {
		urls[i] = c.fileURL(r)
	}
	out, elapsed, err := c.runConfig(ctx, uploadConfig(files, urls), "-w", `%{http_code}\n`)
	if err != nil {
		return 0, fmt.Errorf("benchtool: curl PUT: %w", err)
	}
	if err := checkStatuses(out, len(urls), "201"); err != nil {
		return 0, err
	}
	return elapsed, nil
}
