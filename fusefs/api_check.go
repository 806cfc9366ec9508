package fusefs

import "github.com/hanwen/go-fuse/v2/fs"

// The whole FUSE surface of ncvfs at a glance.
var (
	_ = (fs.NodeLookuper)((*Dir)(nil))
	_ = (fs.NodeOpendirHandler)((*Dir)(nil))
	_ = (fs.NodeGetattrer)((*Dir)(nil))
	_ = (fs.NodeStatfser)((*Dir)(nil))
	_ = (fs.NodeOnForgetter)((*Dir)(nil))
	_ = (fs.NodeMkdirer)((*Dir)(nil))
	_ = (fs.NodeCreater)((*Dir)(nil))
	_ = (fs.NodeUnlinker)((*Dir)(nil))
	_ = (fs.NodeRmdirer)((*Dir)(nil))
	_ = (fs.NodeRenamer)((*Dir)(nil))
	_ = (fs.NodeSymlinker)((*Dir)(nil))
	_ = (fs.NodeLinker)((*Dir)(nil))
	_ = (fs.NodeMknoder)((*Dir)(nil))
	_ = (fs.NodeSetattrer)((*Dir)(nil))

	_ = (fs.FileReaddirenter)((*dirHandle)(nil))
	_ = (fs.FileLookuper)((*dirHandle)(nil))
	_ = (fs.FileSeekdirer)((*dirHandle)(nil))

	_ = (fs.NodeGetattrer)((*File)(nil))
	_ = (fs.NodeStatfser)((*File)(nil))
	_ = (fs.NodeOnForgetter)((*File)(nil))
	_ = (fs.NodeOpener)((*File)(nil))
	_ = (fs.NodeSetattrer)((*File)(nil))

	_ = (fs.FileReader)((*writeHandle)(nil))
	_ = (fs.FileWriter)((*writeHandle)(nil))
	_ = (fs.FileFlusher)((*writeHandle)(nil))
	_ = (fs.FileFsyncer)((*writeHandle)(nil))
	_ = (fs.FileReleaser)((*writeHandle)(nil))
	_ = (fs.FileGetattrer)((*writeHandle)(nil))

	_ = (fs.FileReader)((*fileHandle)(nil))
	_ = (fs.FileReleaser)((*fileHandle)(nil))
	_ = (fs.FilePassthroughFder)((*fileHandle)(nil))
)

var (
	_ = (fs.NodeGetxattrer)((*node)(nil))
	_ = (fs.NodeListxattrer)((*node)(nil))
	_ = (fs.NodeSetxattrer)((*node)(nil))
	_ = (fs.NodeRemovexattrer)((*node)(nil))
)
