package hydrate

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/ncvfs/ncvfs/cache"
	"github.com/ncvfs/ncvfs/davclient/davtest"
)

// wideFolder makes a folder of n files on the fixture's server and lists the root, so
// the folder is known but never listed.
func (f *fixture) wideFolder(t *testing.T, name string, n int) cache.Item {
	t.Helper()
	for i := range n {
		if _, err := f.srv.WriteFile(fmt.Sprintf("%s/n%04d.txt", name, i), []byte("x"), time.Unix(1700000000, 0)); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.lister.Ensure(context.Background(), f.rootID); err != nil {
		t.Fatal(err)
	}
	dir, err := f.store.Lookup(f.rootID, name)
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

// The first children of a first listing reach a reader while the rest of the answer is
// still on the wire: nothing is committed yet when the first child is seen.
func TestFirstListingIsHandedOutWhileItArrives(t *testing.T) {
	f := newFixture(t, time.Hour)
	dir := f.wideFolder(t, "slow", 200) // about 160 KB of XML
	t.Cleanup(f.srv.AddFault(davtest.Fault{Method: "PROPFIND", PathPrefix: "/remote.php/dav/files/u/slow",
		BytesPerSecond: 100_000}))

	list, err := f.lister.Children(context.Background(), dir.ID)
	if err != nil {
		t.Fatal(err)
	}
	first, err := list.At(context.Background(), 0)
	if err != nil || first == nil {
		t.Fatalf("first child: %v, %v", first, err)
	}
	stored, err := f.store.Children(dir.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(stored) != 0 {
		t.Fatalf("the first child came after the commit (%d children stored): not streamed", len(stored))
	}
	if got := readChildren(t, &list); len(got) != 200 {
		t.Fatalf("read %d children, want 200", len(got))
	}
	f.lister.Settle(context.Background(), dir.ID)
	if stored, _ := f.store.Children(dir.ID); len(stored) != 200 {
		t.Fatalf("%d children stored after Settle, want 200", len(stored))
	}
}

// An answer cut after some children were shown: the reader gets those, then an error
// (no hang, no invented end of folder); nothing is committed, and the next visit lists
// the folder again.
func TestListingCutAfterChildrenWereShownFails(t *testing.T) {
	f := newFixture(t, time.Hour)
	dir := f.wideFolder(t, "cut", 300)
	remove := f.srv.AddFault(davtest.Fault{Method: "PROPFIND", PathPrefix: "/remote.php/dav/files/u/cut",
		CutAfter: 120_000})

	list, err := f.lister.Children(context.Background(), dir.ID)
	if err != nil {
		t.Fatal(err)
	}
	shown := 0
	for ; ; shown++ {
		it, err := list.At(context.Background(), shown)
		if err != nil {
			break
		}
		if it == nil {
			t.Fatalf("the cut listing ended normally after %d children", shown)
		}
	}
	if shown == 0 || shown >= 300 {
		t.Fatalf("%d children shown before the error, want some but not all", shown)
	}
	f.lister.Settle(context.Background(), dir.ID)
	if stored, _ := f.store.Children(dir.ID); len(stored) != 0 {
		t.Fatalf("%d children of a failed listing were stored", len(stored))
	}
	remove()
	list, err = f.lister.Children(context.Background(), dir.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got := readChildren(t, &list); len(got) != 300 {
		t.Fatalf("next visit read %d children, want 300", len(got))
	}
}

// A child without a server id gets its id from the commit: it and the children after it
// are handed out once committed, every child exactly once.
func TestChildWithoutServerIDIsHandedOutAfterTheCommit(t *testing.T) {
	f := newFixture(t, time.Hour)
	dir := f.wideFolder(t, "mixed", 1)
	base := "/remote.php/dav/files/u/mixed/"
	ms := newMultistatus(base, dir.ID)
	want := map[string]bool{}
	for i := range 150 {
		name := fmt.Sprintf("f%03d", i)
		id := uint64(900_000 + i)
		if i == 100 {
			id = 0 // no oc:fileid
		}
		ms.file(name, id)
		want[name] = true
	}
	t.Cleanup(f.srv.AddFault(davtest.Fault{Method: "PROPFIND", PathPrefix: base, Body: ms.body()}))

	list, err := f.lister.Children(context.Background(), dir.ID)
	if err != nil {
		t.Fatal(err)
	}
	got := readChildren(t, &list)
	if len(got) != len(want) {
		t.Fatalf("read %d children, want %d", len(got), len(want))
	}
	for _, it := range got {
		if !want[it.Name] {
			t.Fatalf("child %q handed out twice or never listed", it.Name)
		}
		delete(want, it.Name)
		if it.ID == 0 {
			t.Fatalf("child %q handed out without an id", it.Name)
		}
	}
}

// A listing the cache refuses after it was shown (two children claiming one file id)
// fails its readers at the end: the folder never passes for complete.
func TestFirstListingRefusedByTheCacheFailsItsReaders(t *testing.T) {
	f := newFixture(t, time.Hour)
	dir := f.wideFolder(t, "dups", 1)
	base := "/remote.php/dav/files/u/dups/"
	ms := newMultistatus(base, dir.ID)
	for i := range 100 {
		id := uint64(800_000 + i)
		if i == 99 {
			id = 800_000 // the id of the first child again
		}
		ms.file(fmt.Sprintf("f%03d", i), id)
	}
	t.Cleanup(f.srv.AddFault(davtest.Fault{Method: "PROPFIND", PathPrefix: base, Body: ms.body()}))

	list, err := f.lister.Children(context.Background(), dir.ID)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; ; i++ {
		it, err := list.At(context.Background(), i)
		if err != nil {
			if !errors.Is(err, cache.ErrBadListing) {
				t.Errorf("after %d children: %v, want the cache's refusal", i, err)
			}
			return
		}
		if it == nil {
			t.Fatalf("a listing the cache refused ended normally after %d children", i)
		}
	}
}

// Waiting for a folder's commit does not wait for another folder's listing, and an
// interrupted wait returns at once.
func TestSettleWaitsOnlyForItsFolder(t *testing.T) {
	f := newFixture(t, time.Hour)
	if _, err := f.srv.WriteFile("other/x.txt", []byte("x"), time.Unix(1700000000, 0)); err != nil {
		t.Fatal(err)
	}
	slow := f.wideFolder(t, "slow", 200)
	other, err := f.store.Lookup(f.rootID, "other")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(f.srv.AddFault(davtest.Fault{Method: "PROPFIND", PathPrefix: "/remote.php/dav/files/u/slow",
		BytesPerSecond: 100_000}))
	list, err := f.lister.Children(context.Background(), slow.ID)
	if err != nil {
		t.Fatal(err)
	}
	if it, err := list.At(context.Background(), 0); it == nil || err != nil {
		t.Fatalf("first child: %v, %v", it, err)
	}
	// The slow listing is handed out and far from committed (about 1.5 s of XML).
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	if err := f.lister.Settle(ctx, other.ID); err != nil {
		t.Errorf("settling an unrelated folder: %v", err)
	}
	if err := f.lister.Settle(ctx, slow.ID); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("settling the slow folder before its commit: %v, want the deadline", err)
	}
	if err := f.lister.Settle(context.Background(), slow.ID); err != nil {
		t.Fatal(err)
	}
	if stored, _ := f.store.Children(slow.ID); len(stored) != 200 {
		t.Errorf("%d children stored once settled, want 200", len(stored))
	}
}

// multistatus writes a Depth-1 answer by hand, for answers the test server would never
// give: the folder at base (with its id) and files with the given ids (0: no oc:fileid).
type multistatus struct {
	b    strings.Builder
	base string
}

func newMultistatus(base string, dirID uint64) *multistatus {
	m := &multistatus{base: base}
	m.b.WriteString(`<?xml version="1.0"?><d:multistatus xmlns:d="DAV:" xmlns:oc="http://owncloud.org/ns">`)
	m.entry(base, "<d:resourcetype><d:collection/></d:resourcetype>", dirID)
	return m
}

func (m *multistatus) file(name string, id uint64) {
	m.entry(m.base+name, "<d:resourcetype/>", id)
}

func (m *multistatus) entry(href, resourceType string, id uint64) {
	idProp := ""
	if id != 0 {
		idProp = fmt.Sprintf("<oc:fileid>%d</oc:fileid>", id)
	}
	fmt.Fprintf(&m.b, `<d:response><d:href>%s</d:href><d:propstat><d:prop>%s<d:getetag>"e"</d:getetag>`+
		`<d:getlastmodified>Fri, 14 Mar 2025 15:09:26 GMT</d:getlastmodified><d:getcontentlength>1</d:getcontentlength>%s`+
		`</d:prop><d:status>HTTP/1.1 200 OK</d:status></d:propstat></d:response>`, href, resourceType, idProp)
}

func (m *multistatus) body() []byte { return []byte(m.b.String() + `</d:multistatus>`) }
