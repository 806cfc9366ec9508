package davclient_test

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/ncvfs/ncvfs/davclient"
	"github.com/ncvfs/ncvfs/davclient/davtest"
)

func startWith(t *testing.T, opt davtest.Options) (*davtest.Server, *davclient.Client) {
	t.Helper()
	opt.User, opt.Password = itUser, itPassword
	s, err := davtest.New(opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	c, err := davclient.New(davclient.Config{URL: s.URL(), User: itUser, Password: itPassword,
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	return s, c
}

func TestListTrash(t *testing.T) {
	s, c := startWith(t, davtest.Options{UserID: "alice-ldap-7"})
	for _, p := range []string{"Docs/a b.txt", "Docs/old/x.txt", "keep.txt"} {
		if _, err := s.WriteFile(p, []byte("0123456789"), time.Time{}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Remove("Docs/a b.txt"); err != nil {
		t.Fatal(err)
	}
	if err := s.Remove("Docs/old"); err != nil {
		t.Fatal(err)
	}
	got := map[string]davclient.TrashEntry{}
	err := c.ListTrash(context.Background(), func(e davclient.TrashEntry) error {
		got[e.OriginalPath] = e
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 {
		t.Fatalf("trash items %+v, want 2", got)
	}
	want := map[string]davtest.TrashInfo{}
	for _, it := range s.Trash() {
		want[it.OriginalPath] = it
	}
	for p, w := range want {
		e, ok := got[p]
		if !ok {
			t.Errorf("%s missing from the listing", p)
			continue
		}
		if e.Key != w.Key || !e.DeletedAt.Equal(w.DeletedAt) || e.IsDir != w.IsDir || e.FileID != w.FileID {
			t.Errorf("%s: got %+v, want key %s at %v dir %v id %d", p, e, w.Key, w.DeletedAt, w.IsDir, w.FileID)
		}
	}
	if e := got["Docs/a b.txt"]; e.Name != "a b.txt" || e.Size != 10 {
		t.Errorf("file item %+v", e)
	}

	stop := errors.New("stop")
	if err := c.ListTrash(context.Background(), func(davclient.TrashEntry) error { return stop }); !errors.Is(err, stop) {
		t.Errorf("an error from fn came back as %v", err)
	}
}

func TestActivities(t *testing.T) {
	s, c := startWith(t, davtest.Options{Activity: true})
	const n = 450 // more than two pages
	for i := range n {
		p := "f/" + time.Unix(int64(i), 0).UTC().Format("150405") + ".txt"
		if _, err := s.WriteFile(p, []byte("x"), time.Time{}); err != nil {
			t.Fatal(err)
		}
		actor := "alice"
		if i == n-1 {
			actor = "bob"
		}
		if err := s.RemoveBy(p, actor); err != nil {
			t.Fatal(err)
		}
	}
	var got []davclient.Activity
	err := c.Activities(context.Background(), func(a davclient.Activity) bool {
		got = append(got, a)
		return true
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != n {
		t.Fatalf("%d activities, want %d", len(got), n)
	}
	first := got[0]
	if first.User != "bob" || first.Type != "file_deleted" || first.Path != "f/000729.txt" || first.Time.IsZero() {
		t.Errorf("newest activity %+v", first)
	}
	seen := map[int64]bool{}
	for _, a := range got {
		if seen[a.ID] {
			t.Fatalf("activity %d twice", a.ID)
		}
		seen[a.ID] = true
	}

	count := 0
	if err := c.Activities(context.Background(), func(davclient.Activity) bool { count++; return count < 3 }); err != nil || count != 3 {
		t.Errorf("stopping after 3: count %d err %v", count, err)
	}
}

func TestActivitiesWithoutTheApp(t *testing.T) {
	_, c := startWith(t, davtest.Options{})
	err := c.Activities(context.Background(), func(davclient.Activity) bool { return true })
	if !errors.Is(err, davclient.ErrUnsupported) {
		t.Fatalf("err %v, want ErrUnsupported", err)
	}
}
