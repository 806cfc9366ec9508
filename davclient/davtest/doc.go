// Package davtest is an in-process test server that speaks the WebDAV dialect of a
// Nextcloud 29 server, as captured in the project's wire samples. It is the oracle the
// test suite and `ncvfs demo` run against; it deliberately does not import davclient,
// so that the client is checked against an independent model of the server.
//
// What it models: the files endpoint (/remote.php/dav/files/<user>/ and the legacy
// /remote.php/webdav/), PROPFIND with oc:/nc: properties, folder ETags propagated to the
// root on every write, file ids kept by MOVE and renewed by COPY, permissions letters,
// quota, conditional GET/PUT, ranges, chunked upload v2, the trash bin, the OCS user and
// capabilities endpoints and status.php. Fault hooks (status, hostile bodies, cut
// connections, delays, throttling) and request/byte counters let tests observe a client.
//
// Limits: content lives in memory (synthetic files are generated on the fly and cost no
// memory); there are no shares, versions, locks (LOCK answers 501), REPORT (501), or
// pagination; OCS answers JSON only. Like the real server, a PUT with a non-numeric
// X-OC-Mtime stores the file and then answers 500. Moving a folder keeps the ETags of
// the moved items. New items get the default permissions whatever their parent's are.
package davtest
