package fusefs

// File is a remote file: a placeholder until it is read, then (partly) local content.
// Its open, read and release live in read.go.
type File struct {
	node
}
