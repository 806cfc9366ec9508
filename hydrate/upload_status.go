package hydrate

import (
	"slices"
	"time"
)

// UploaderStatus is what the uploader is doing, for status and flush.
type UploaderStatus struct {
	// InFlight are the items being uploaded (or moved, made, removed), in id order.
	InFlight []uint64
	// LastError is the last failure while items are retried; nil after a success.
	LastError error
	// Stopped: Close was called; nothing more is uploaded by this mount.
	Stopped bool
}

// Status returns what the uploader is doing now.
func (u *Uploader) Status() UploaderStatus {
	u.mu.Lock()
	st := UploaderStatus{LastError: u.lastErr}
	for id := range u.inFlight {
		st.InFlight = append(st.InFlight, id)
	}
	u.mu.Unlock()
	slices.Sort(st.InFlight)
	select {
	case <-u.done:
		st.Stopped = true
	default:
	}
	return st
}

// Uploading reports whether id is in flight.
func (st UploaderStatus) Uploading(id uint64) bool {
	_, ok := slices.BinarySearch(st.InFlight, id)
	return ok
}

// Uploading reports whether id is in flight now, without building a Status.
func (u *Uploader) Uploading(id uint64) bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.inFlight[id]
}

// RetryNow forgets the backoff of items that failed, so that the next pass tries
// them at once: a user who asks for a flush means now, not after a minute's backoff.
func (u *Uploader) RetryNow() {
	u.mu.Lock()
	now := time.Now()
	for id := range u.retryAt {
		u.retryAt[id] = now
	}
	u.mu.Unlock()
	u.Wake()
}
