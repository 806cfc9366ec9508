package main

// methodology is printed with every report; the package comment in main.go says the
// same, and a test keeps the two identical.
const methodology = `- One server for everyone: davtest-server (the project's Nextcloud-dialect test server) runs as its own process on 127.0.0.1 with a generated tree; every client talks to it over loopback, one after the other, never at the same time.
- Cold: a fresh mount on a new mount point with an EMPTY cache directory, then the first command is timed, then the mount is unmounted (fusermount3 -u) and its process waited for. Repeated --repeat-cold times (default 5); the median is reported. The time to mount is not included.
- Warm: one mount, the command run once untimed, then timed --repeat-warm times (default 10) in a row; the median is reported.
- The kernel page cache is not dropped: listings are metadata, and a fresh FUSE mount starts with no cached entries or attributes of its own. The local-disk copy is listed warm only.
- Timing: each command is a child process (ls -l --color=never DIR, find DIR; stdout to /dev/null) timed by wall clock around its whole run, fork and exec included.
- Raw PROPFIND: curl with the property set ncvfs asks for, Depth 1, credentials from a 0600 netrc file. For ls it is one request for the listed folder; for find it is one Depth-1 request per folder of the tree, sent one after the other by one curl process over one connection. The same reference stands on the cold and the warm rows.
- ncvfs: the real binary, ncvfs mount --cache-dir FRESH --log-level warn, default listing TTL. rclone: rclone mount --vfs-cache-mode full --cache-dir FRESH --dir-cache-time 5m, a webdav remote with vendor nextcloud defined only through RCLONE_CONFIG_* variables (password obscured).
- Local disk: the same tree on the file system of the cache directories, with sparse files of the same sizes and mtimes.
- After the timed runs each client's listing is checked against the generated tree (names, sizes, mtimes of the listed folder; folder and file counts of the walked tree); a client that shows wrong data gets no PASS.
- Peak memory is the serving process's VmHWM from /proc/PID/status, read just before unmounting.
`
