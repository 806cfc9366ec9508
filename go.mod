module github.com/ncvfs/ncvfs

go 1.26.0

require (
	github.com/hanwen/go-fuse/v2 v2.12.1
	go.etcd.io/bbolt v1.5.0
	golang.org/x/text v0.43.0
)

require golang.org/x/sys v0.45.0 // indirect
