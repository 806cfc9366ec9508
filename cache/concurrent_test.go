package cache

import (
	"fmt"
	"strings"
	"sync"
	"testing"
)

// Readers run while a writer grows the database (bbolt remaps its file as it grows):
// every value read must have been copied out of its transaction.
func TestReadersDuringListings(t *testing.T) {
	s := withRoot(t)
	apply(t, s, dirItem(1, "", "r"), dirItem(2, "grow", "g"), fileItem(3, "stable", "e", 1))
	var wg sync.WaitGroup
	done := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer close(done)
		for round := range 20 {
			var children []Item
			for i := range 500 {
				children = append(children, fileItem(uint64(1000+round*500+i), fmt.Sprintf("r%02d-%03d", round, i), strings.Repeat("e", 40), 1))
			}
			if _, err := s.ApplyListing(Listing{Dir: dirItem(2, "", fmt.Sprint(round)), Children: children}); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	var kept []Item
	for reading := true; reading; {
		select {
		case <-done:
			reading = false
		default:
		}
		items, err := s.Children(2)
		if err != nil {
			t.Fatal(err)
		}
		kept = append(kept, items...)
		st, err := s.Lookup(1, "stable")
		if err != nil || st.ID != 3 {
			t.Fatalf("Lookup stable = %+v, %v", st, err)
		}
		kept = append(kept, st)
	}
	wg.Wait()
	// Values kept from long-gone transactions must still be intact.
	for _, it := range kept {
		if it.ID == 3 {
			if it.Name != "stable" {
				t.Fatalf("kept item 3 has name %q", it.Name)
			}
			continue
		}
		want := fmt.Sprintf("r%02d-%03d", (it.ID-1000)/500, (it.ID-1000)%500)
		if it.Name != want || it.ETag != strings.Repeat("e", 40) || it.Parent != 2 {
			t.Fatalf("kept item %d corrupt: %+v", it.ID, it)
		}
	}
}
