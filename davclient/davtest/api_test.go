package davtest

import (
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestServerSideAPI(t *testing.T) {
	s := newTestServer(t, Options{})
	if _, err := s.Mkdir("a/b"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Mkdir without parent: %v", err)
	}
	if err := s.MkdirAll("a/b/c"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Mkdir("a/b"); !errors.Is(err, fs.ErrExist) {
		t.Errorf("Mkdir of an existing folder: %v", err)
	}
	id, err := s.WriteFile("a/b/c/f.txt", []byte("hello"), time.Unix(1234567890, 0))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.WriteFile("a/b/c/f.txt/x", nil, time.Time{}); err == nil {
		t.Error("writing below a file must fail")
	}
	if _, err := s.WriteFile("a/b", nil, time.Time{}); err == nil {
		t.Error("writing onto a folder must fail")
	}
	info, err := s.Stat("a/b/c/f.txt")
	if err != nil || info.FileID != id || info.Size != 5 || !info.ModTime.Equal(time.Unix(1234567890, 0)) ||
		info.Permissions != "RGDNVW" || info.Path != "a/b/c/f.txt" || info.IsDir {
		t.Errorf("Stat %+v %v", info, err)
	}
	if err := s.Rename("a/b/c/f.txt", "a/g.txt"); err != nil {
		t.Fatal(err)
	}
	if moved, _ := s.Stat("a/g.txt"); moved.FileID != id || moved.ETag != info.ETag {
		t.Errorf("Rename must keep id and ETag: %+v", moved)
	}
	if err := s.Rename("a", "a/b/inside"); err == nil {
		t.Error("renaming a folder into itself must fail")
	}
	if err := s.Rename("a/g.txt", "a/b"); !errors.Is(err, fs.ErrExist) {
		t.Errorf("Rename onto an existing item: %v", err)
	}
	if err := s.Rename("nope", "x"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Rename of a missing item: %v", err)
	}
	if err := s.Remove("nope"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Remove of a missing item: %v", err)
	}
	if got, err := s.ReadFile("a/g.txt"); err != nil || string(got) != "hello" {
		t.Errorf("ReadFile %q %v", got, err)
	}
	if _, err := s.ReadFile("a"); err == nil {
		t.Error("ReadFile of a folder must fail")
	}
	if err := s.SetPermissions("missing", "RG"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("SetPermissions of a missing item: %v", err)
	}

	var walked []string
	err = s.Walk(func(p string, info NodeInfo) error {
		walked = append(walked, fmt.Sprintf("%s:%v", p, info.IsDir))
		return nil
	})
	if err != nil || strings.Join(walked, " ") != "a:true a/b:true a/b/c:true a/g.txt:false" {
		t.Errorf("Walk %v %v", walked, err)
	}
	stop := errors.New("stop")
	n := 0
	if err := s.Walk(func(string, NodeInfo) error { n++; return stop }); !errors.Is(err, stop) || n != 1 {
		t.Errorf("Walk must stop on the first error: %v after %d", err, n)
	}
}

// TestConcurrentClients runs writers and readers together (under -race in CI) and
// then checks the tree's invariant: each folder's size is the sum of its children.
func TestConcurrentClients(t *testing.T) {
	s := newTestServer(t, Options{})
	if err := s.MkdirAll("c"); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 20 {
				name := fmt.Sprintf("c/g%d/f%d.txt", g, i)
				if i == 0 {
					r, _ := http.NewRequest("MKCOL", s.FilesURL()+fmt.Sprintf("c/g%d", g), nil)
					r.SetBasicAuth(testUser, testPass)
					if resp, err := http.DefaultClient.Do(r); err == nil {
						resp.Body.Close()
					}
				}
				for _, m := range []string{http.MethodPut, "PROPFIND", http.MethodGet} {
					var body *strings.Reader
					if m == http.MethodPut {
						body = strings.NewReader(strings.Repeat("z", i+1))
					} else {
						body = strings.NewReader("")
					}
					r, _ := http.NewRequest(m, s.FilesURL()+name, body)
					r.SetBasicAuth(testUser, testPass)
					r.Header.Set("Depth", "0")
					resp, err := http.DefaultClient.Do(r)
					if err != nil {
						errs <- err
						return
					}
					resp.Body.Close()
					if resp.StatusCode >= 400 {
						errs <- fmt.Errorf("%s %s: %d", m, name, resp.StatusCode)
						return
					}
				}
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for range 20 {
			r, _ := http.NewRequest("PROPFIND", s.FilesURL(), nil)
			r.SetBasicAuth(testUser, testPass)
			r.Header.Set("Depth", "infinity")
			if resp, err := http.DefaultClient.Do(r); err == nil {
				resp.Body.Close()
			}
		}
	}()
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	sizes := map[string]int64{}
	err := s.Walk(func(p string, info NodeInfo) error {
		if !info.IsDir {
			for d := p; d != ""; {
				i := strings.LastIndexByte(d, '/')
				if i < 0 {
					d = ""
				} else {
					d = d[:i]
				}
				sizes[d] += info.Size
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	const perGroup = 20 * 21 / 2
	if sizes[""] != 4*perGroup {
		t.Errorf("sum of file sizes %d, want %d", sizes[""], 4*perGroup)
	}
	for _, d := range []string{"", "c", "c/g0", "c/g3"} {
		info, _ := s.Stat(d)
		if info.Size != sizes[d] {
			t.Errorf("folder %q size %d, sum of its files %d", d, info.Size, sizes[d])
		}
	}
}
