package davclient

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
)

// errRedirectRefused marks a redirect the client would not follow; transportError turns
// it into an ErrBadResponse naming the reason.
type errRedirectRefused struct{ reason string }

func (e *errRedirectRefused) Error() string { return e.reason }

// checkRedirect follows a redirect only when the method survives it (net/http turns a
// redirected PROPFIND into a GET, whose answer would be misread) and the credentials stay
// as safe as before: never from https to http, never to another host. net/http keeps the
// Authorization header on a redirect to the same host, whatever the scheme.
func checkRedirect(req *http.Request, via []*http.Request) error {
	if len(via) >= 5 || req.Method != via[0].Method {
		return http.ErrUseLastResponse
	}
	from := via[len(via)-1].URL
	if from.Scheme == "https" && req.URL.Scheme != "https" {
		return &errRedirectRefused{fmt.Sprintf(
			"the server redirected from https to %s (%s); refusing to send the password unencrypted: check the server's configuration",
			req.URL.Scheme, redactURL(req.URL.String()))}
	}
	if !strings.EqualFold(from.Hostname(), req.URL.Hostname()) {
		return &errRedirectRefused{fmt.Sprintf(
			"the server redirected to another host (%s); refusing to send the password there: use that URL if you trust it",
			redactURL(req.URL.String()))}
	}
	return nil
}

// serverJar keeps the session cookies of one server (Nextcloud starts a PHP session for
// every request that comes without them, which costs time on each request). Cookies are
// host-only: a Domain attribute is dropped, and no other host ever gets them.
type serverJar struct {
	host string // hostname, lowercase, without port
	jar  *cookiejar.Jar
}

func newServerJar(host string) *serverJar {
	jar, _ := cookiejar.New(nil) // never fails without options
	return &serverJar{host: strings.ToLower(host), jar: jar}
}

func (j *serverJar) ours(u *url.URL) bool { return strings.EqualFold(u.Hostname(), j.host) }

func (j *serverJar) SetCookies(u *url.URL, cookies []*http.Cookie) {
	if !j.ours(u) {
		return
	}
	kept := make([]*http.Cookie, 0, len(cookies))
	for _, c := range cookies {
		c2 := *c
		c2.Domain = "" // host-only: a Domain attribute would share them with sibling hosts
		kept = append(kept, &c2)
	}
	j.jar.SetCookies(u, kept)
}

func (j *serverJar) Cookies(u *url.URL) []*http.Cookie {
	if !j.ours(u) {
		return nil
	}
	return j.jar.Cookies(u)
}

// tlsProblem says, for a failure to set up TLS, what it is and what to do; "" when err
// is not such a failure. Retrying never helps with these.
func tlsProblem(err error, serverURL string) string {
	var certErr *tls.CertificateVerificationError
	var unknownCA x509.UnknownAuthorityError
	var hostErr x509.HostnameError
	var invalid x509.CertificateInvalidError
	switch {
	case strings.Contains(err.Error(), "server gave HTTP response to HTTPS client"):
		// net/http's own words for this; it has no error value to test for.
		return "the server speaks plain HTTP, not HTTPS; use " + httpVariant(serverURL) + " if that is intended"
	case errors.As(err, &certErr), errors.As(err, &unknownCA), errors.As(err, &hostErr), errors.As(err, &invalid):
		return "the server's TLS certificate cannot be verified; fix the certificate (or its name), or use --insecure only if you trust the server"
	}
	var rec tls.RecordHeaderError
	if errors.As(err, &rec) {
		return "the server does not speak TLS on this port; check the URL's scheme and port"
	}
	return ""
}

// httpVariant is serverURL with http instead of https, for a message.
func httpVariant(serverURL string) string {
	u, err := url.Parse(serverURL)
	if err != nil {
		return "an http:// URL"
	}
	u.Scheme = "http"
	return redactURL(u.String())
}

// isLoopback reports whether host (without port) names this machine.
func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
