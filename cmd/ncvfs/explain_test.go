package main

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/ncvfs/ncvfs/davclient"
)

func TestExplainStartIsOneSentencePerKind(t *testing.T) {
	const url = "https://cloud.example.com"
	wrap := func(e *davclient.Error) error { return fmt.Errorf("cannot use the server at %s: %w", url, e) }
	other := errors.New("mount point /x is not empty")
	for _, tc := range []struct {
		err  error
		want string
	}{
		{wrap(&davclient.Error{Op: "propfind", Kind: davclient.ErrTransient, Cause: context.DeadlineExceeded}),
			"the server at " + url + " did not answer in time: check the URL and your network"},
		{wrap(&davclient.Error{Op: "propfind", Kind: davclient.ErrTransient, Status: 503}),
			"the server at " + url + " is failing (HTTP 503): try again later"},
		{wrap(&davclient.Error{Op: "propfind", Kind: davclient.ErrNotFound, Status: 404}),
			"no WebDAV folder at " + url + ": check the URL (for Nextcloud, the address you open in a browser)"},
		{wrap(&davclient.Error{Op: "ocs-user", Kind: davclient.ErrUnauthorized, Status: 401}),
			"the server refused the login for bob: check the user name and app password (create one in Nextcloud: Settings → Security)"},
		{other, other.Error()},
	} {
		if got := explainStart(tc.err, "bob", url).Error(); got != tc.want {
			t.Errorf("explainStart(%v)\n got %q\nwant %q", tc.err, got, tc.want)
		}
	}
}
