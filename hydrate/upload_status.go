package hydrate

import "time"

// UploaderStatus is what the uploader is doing, for status and flush.
type UploaderStatus struct {
	// InFlight is the item being uploaded (or moved, made, removed), 0 if none.
	InFlight uint64
	// LastError is the last failure while items are retried; nil after a success.
	LastError error
	// Stopped: Close was called; nothing more is uploaded by this mount.
	Stopped bool
}

// Status returns what the uploader is doing now.
func (u *Uploader) Status() UploaderStatus {
	u.mu.Lock()
	st := UploaderStatus{InFlight: u.inFlight, LastError: u.lastErr}
	u.mu.Unlock()
	select {
	case <-u.done:
		st.Stopped = true
	default:
	}
	return st
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
