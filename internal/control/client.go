package control

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// RemoteError is the daemon's answer that an operation failed: a sentence to print.
type RemoteError struct{ Msg string }

func (e *RemoteError) Error() string { return e.Msg }

// dialTimeout bounds the connection to a daemon that accepts nothing (stopped, stuck).
const dialTimeout = 5 * time.Second

// Call sends req to the daemon of t and decodes its result into out (may be nil).
// progress, if not nil, receives every progress event. Ending ctx closes the
// connection, which cancels the operation in the daemon. Errors are sentences about
// the mount; a failure the daemon reports is a *RemoteError.
func Call(ctx context.Context, t Target, req Request, progress func(json.RawMessage), out any) error {
	if me := os.Getuid(); t.OwnerUID >= 0 && me != 0 && t.OwnerUID != me {
		return fmt.Errorf("the mount at %s belongs to another user (uid %d): only that user and root may ask it", t.MountPoint, t.OwnerUID)
	}
	if t.Socket == "" {
		return fmt.Errorf("the mount at %s has no control socket (looked in %s): an older ncvfs serves it, or its socket could not be made (see its log)",
			t.MountPoint, strings.Join(t.Candidates, ", "))
	}
	if t.OwnerUID >= 0 {
		if err := CheckDir(filepath.Dir(t.Socket), t.OwnerUID); err != nil {
			return fmt.Errorf("will not talk to the mount at %s: %w", t.MountPoint, err)
		}
	}
	req.Version = ProtocolVersion
	d := net.Dialer{Timeout: dialTimeout}
	conn, err := d.DialContext(ctx, "unix", t.Socket)
	if err != nil {
		return dialError(t, err)
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	// A server that refuses answers at once and closes: its answer is still read
	// after a failed send.
	sendErr := json.NewEncoder(conn).Encode(req)
	dec := json.NewDecoder(conn)
	for {
		var m message
		if err := dec.Decode(&m); err != nil {
			if sendErr != nil {
				return fmt.Errorf("send the request to the mount at %s: %w", t.MountPoint, ctxErr(ctx, sendErr))
			}
			if errors.Is(err, io.EOF) && ctx.Err() == nil {
				return fmt.Errorf("the ncvfs process of the mount at %s closed the connection without an answer (see its log)", t.MountPoint)
			}
			return fmt.Errorf("read the answer of the mount at %s: %w", t.MountPoint, ctxErr(ctx, err))
		}
		switch m.Type {
		case typeProgress:
			if progress != nil {
				progress(m.Data)
			}
		case typeError:
			return &RemoteError{Msg: m.Error}
		case typeResult:
			if out == nil {
				return nil
			}
			if err := json.Unmarshal(m.Data, out); err != nil {
				return fmt.Errorf("the mount at %s answered something this ncvfs does not understand: %w", t.MountPoint, err)
			}
			return nil
		default:
			return fmt.Errorf("the mount at %s answered an unknown message %q", t.MountPoint, m.Type)
		}
	}
}

// ctxErr prefers the context's reason to the closed connection it caused.
func ctxErr(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return err
}

func dialError(t Target, err error) error {
	switch {
	case errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ENOENT):
		return fmt.Errorf("the ncvfs process of the mount at %s does not answer: if it ended, `ncvfs unmount %s` clears the mount",
			t.MountPoint, t.MountPoint)
	case errors.Is(err, syscall.EACCES), errors.Is(err, syscall.EPERM):
		return fmt.Errorf("the mount at %s belongs to another user: only that user and root may ask it", t.MountPoint)
	}
	return fmt.Errorf("cannot reach the ncvfs process of the mount at %s: %w", t.MountPoint, err)
}
