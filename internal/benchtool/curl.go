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
)

// propfindBody is the property set ncvfs asks for (davclient/propfind.go), so that the
// raw reference moves the same bytes; a test keeps the two identical.
const propfindBody = `<?xml version="1.0" encoding="utf-8"?>
<d:propfind xmlns:d="DAV:" xmlns:oc="http://owncloud.org/ns" xmlns:nc="http://nextcloud.org/ns">
 <d:prop>
  <d:resourcetype/>
  <d:getetag/>
  <d:getlastmodified/>
  <d:getcontentlength/>
  <d:getcontenttype/>
  <d:quota-available-bytes/>
  <d:quota-used-bytes/>
  <oc:fileid/>
  <oc:id/>
  <oc:size/>
  <oc:permissions/>
  <oc:checksums/>
  <oc:owner-id/>
  <oc:owner-display-name/>
  <oc:data-fingerprint/>
 </d:prop>
</d:propfind>
`

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
	if err := os.WriteFile(c.body, []byte(propfindBody), 0o600); err != nil {
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
	cfg, err := os.CreateTemp(c.dir, "curl-*.cfg")
	if err != nil {
		return 0, fmt.Errorf("benchtool: %w", err)
	}
	defer os.Remove(cfg.Name())
	_, err = cfg.WriteString(requestConfig(urls))
	if cerr := cfg.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return 0, fmt.Errorf("benchtool: curl config: %w", err)
	}

	ctx, cancel := context.WithTimeout(ctx, commandTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "curl", "-sS", "-K", cfg.Name(),
		"--netrc-file", c.netrc,
		"-X", "PROPFIND", "-H", "Depth: 1", "-H", "Content-Type: application/xml; charset=utf-8",
		"--data-binary", "@"+c.body,
		"-w", `%{http_code}\n`)
	var stdout bytes.Buffer
	stderr := &limitedBuffer{max: 4 << 10}
	cmd.Stdout, cmd.Stderr = &stdout, stderr
	start := time.Now()
	err = cmd.Run()
	elapsed := time.Since(start)
	if err != nil {
		return 0, fmt.Errorf("benchtool: curl PROPFIND: %w: %s", err, strings.TrimSpace(stderr.String()))
	}
	if err := checkStatuses(stdout.String(), len(urls)); err != nil {
		return 0, err
	}
	return elapsed, nil
}

// checkStatuses checks curl's -w output: one 207 per request.
func checkStatuses(out string, want int) error {
	codes := strings.Fields(out)
	if len(codes) != want {
		return fmt.Errorf("benchtool: curl reported %d answers for %d requests", len(codes), want)
	}
	for i, code := range codes {
		if code != "207" {
			return fmt.Errorf("benchtool: PROPFIND %d of %d answered %s, want 207 Multi-Status", i+1, want, code)
		}
	}
	return nil
}
