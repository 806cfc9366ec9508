// Package fusefs is the kernel's view of an ncvfs account: go-fuse nodes and handles that
// answer from the cache and ask hydrate to refresh it. It holds no policy of its own and
// converts errors to errno in one place (toErrno).
//
// # What the kernel may cache, and for how long
//
// Names (entries), attributes and negative lookups are cached by the kernel for
// Config.KernelTTL (1 s by default). Within that window repeated stats never reach us;
// after it, a stat costs one bbolt read and no network. Folder contents are checked with
// the server on a visit (Lookup, Opendir) at most once per listing TTL (hydrate), with a
// single Depth-0 PROPFIND on Nextcloud. When a check finds changes, the names that were
// added, removed or changed are invalidated in the kernel (NotifyEntry, and
// NotifyContent for changed items) from a goroutine of their own that holds none of our
// locks, so the kernel never waits on a request that waits on it.
//
// # What blocks
//
// Lookup and Opendir block on the folder's listing (first visit, or a revalidation). A
// first listing reaches readdir while it is still being decoded: readdir waits for
// entries not yet arrived and fails with EIO if the answer breaks off; requests about
// its items wait for its commit if they miss the cache. All of them honour interrupts
// (the request context) and return EINTR, while the shared listing goes on for other
// callers. If the server cannot be reached, a folder that was listed before is served
// from the cache (and the failure logged); a folder never listed fails with EIO, or
// with EHOSTUNREACH once hydrate's breaker says the mount is offline: from then on
// nothing waits for the network, and a read of bytes not local fails at once with
// EHOSTUNREACH ("No route to host" says what is wrong; EIO is kept for bytes that
// cannot be trusted). Getattr
// and Statfs send no request (Getattr of an item shown from a listing still arriving
// waits for that listing's commit).
//
// # Content
//
// Opening a file fetches nothing; a read blocks until the bytes it asks for are local
// (hydrate fetches a block, or streams the rest of the file once reads are sequential)
// and returns EINTR when interrupted, while the download goes on for other readers.
// A reader that Config.NoHydrate names (an indexer) never waits: bytes not local fail
// at once with EIO and nothing is fetched, not even read-ahead.
// Bytes in the content file are spliced to the kernel (READs of up to 1 MiB); a small
// file's bytes come from memory until its content file is written.
// Pages the kernel cached stay cached across opens (FOPEN_KEEP_CACHE) until the server's
// version changes (NotifyContent). A complete, verified file that nobody else has open is
// handed to the kernel as a passthrough backing file, so re-reads never reach us; never
// next to a cached open (the kernel refuses to mix them). go-fuse then gives the same
// backing file to every open of the inode while one lasts, so a new version of such a
// file gets a new inode generation (OnVersionChange): new opens read the new version,
// the lasting ones the old.
//
// # Writes
//
// Every change (create, write, rename, delete, setattr) fails with EROFS until uploads
// exist, rather than being accepted locally and lost.
package fusefs
