package main

import (
	"bufio"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strings"
)

type credentials struct{ user, password string }

// findCredentials takes the password from --password-file, then $NCVFS_PASSWORD, then
// ~/.netrc, never from the command line (other users can read command lines).
func findCredentials(rawURL, user, passwordFile string) (credentials, error) {
	host := ""
	if u, err := url.Parse(rawURL); err == nil {
		host = u.Hostname()
		if u.User != nil {
			return credentials{}, usageError{"put no user or password in the URL (other users can read command lines): use --user and --password-file, $NCVFS_PASSWORD or ~/.netrc"}
		}
	}
	c := credentials{user: user}
	switch {
	case passwordFile != "":
		pw, err := readPasswordFile(passwordFile)
		if err != nil {
			return c, err
		}
		c.password = pw
	case os.Getenv("NCVFS_PASSWORD") != "":
		c.password = os.Getenv("NCVFS_PASSWORD")
	default:
		if home, err := os.UserHomeDir(); err == nil {
			if login, pass, ok := netrcLookup(filepath.Join(home, ".netrc"), host, user); ok {
				if c.user == "" {
					c.user = login
				}
				c.password = pass
			}
		}
	}
	if c.user == "" {
		return c, usageError{"no user name: pass --user, or add a `machine " + host + " login ... password ...` line to ~/.netrc"}
	}
	if c.password == "" {
		return c, usageError{"no password: use --password-file FILE, $NCVFS_PASSWORD or ~/.netrc (create an app password in Nextcloud: Settings > Security)"}
	}
	return c, nil
}

// readPasswordFile reads the password from path, refusing (as ssh does with a private
// key) a regular file that group or others may read or write. Pipes and devices
// (--password-file <(pass show nextcloud)) are taken as they are.
func readPasswordFile(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("read the password file: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return "", fmt.Errorf("read the password file: %w", err)
	}
	if st.Mode().IsRegular() && st.Mode().Perm()&0o077 != 0 {
		return "", fmt.Errorf("the password file %s is open to other users (mode %04o): run `chmod 600 %s` and try again",
			path, st.Mode().Perm(), path)
	}
	b, err := io.ReadAll(f)
	if err != nil {
		return "", fmt.Errorf("read the password file: %w", err)
	}
	return strings.TrimRight(string(b), "\r\n"), nil
}

// netrcLookup finds the login and password for host in a .netrc file (the "default"
// entry as a fallback). When user is set, only an entry with that login matches.
func netrcLookup(path, host, user string) (login, password string, ok bool) {
	f, err := os.Open(path)
	if err != nil {
		return "", "", false
	}
	defer f.Close()
	var toks []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(line, "#") {
			continue
		}
		toks = append(toks, strings.Fields(line)...)
	}
	type entry struct{ machine, login, password string }
	var entries []entry
	for i := 0; i < len(toks); i++ {
		switch toks[i] {
		case "machine":
			if i+1 < len(toks) {
				entries = append(entries, entry{machine: toks[i+1]})
				i++
			}
		case "default":
			entries = append(entries, entry{machine: ""})
		case "login", "password":
			if len(entries) > 0 && i+1 < len(toks) {
				if toks[i] == "login" {
					entries[len(entries)-1].login = toks[i+1]
				} else {
					entries[len(entries)-1].password = toks[i+1]
				}
				i++
			}
		}
	}
	for _, want := range []string{host, ""} {
		for _, e := range entries {
			if e.machine == want && (user == "" || e.login == user) && e.password != "" {
				return e.login, e.password, true
			}
		}
	}
	return "", "", false
}
