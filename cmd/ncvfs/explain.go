package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/ncvfs/ncvfs/davclient"
)

// explainStart turns a failed first contact with the server into one sentence for the
// person at the terminal. The error underneath names the request that failed
// (`davclient: ocs-user ""`) and repeats the cause: right for a log, noise here. Errors
// it does not recognise pass through unchanged.
func explainStart(err error, user, url string) error {
	var de *davclient.Error
	if !errors.As(err, &de) {
		return err
	}
	switch {
	case errors.Is(err, davclient.ErrUnauthorized):
		return fmt.Errorf("the server refused the login for %s: check the user name and app password "+
			"(create one in Nextcloud: Settings → Security)", user)
	case errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("the server at %s did not answer in time: check the URL and your network", url)
	case errors.Is(err, davclient.ErrTransient) && de.Status != 0:
		return fmt.Errorf("the server at %s is failing (HTTP %d): try again later", url, de.Status)
	case errors.Is(err, davclient.ErrTransient):
		return fmt.Errorf("cannot reach the server at %s: check the URL and your network (%v)", url, innermost(de.Cause))
	case errors.Is(err, davclient.ErrNotFound):
		return fmt.Errorf("no WebDAV folder at %s: check the URL (for Nextcloud, the address you open in a browser)", url)
	case errors.Is(err, davclient.ErrBadResponse):
		return fmt.Errorf("the server at %s does not answer like Nextcloud or WebDAV: check the URL", url)
	}
	return err
}

// innermost is the root cause of a transport error: "connection refused" rather than
// `Get "https://...": dial tcp ...: connect: connection refused`.
func innermost(err error) error {
	for err != nil {
		next := errors.Unwrap(err)
		if next == nil {
			return err
		}
		err = next
	}
	return errors.New("no reason given")
}
