package mountinfo

import (
	"slices"
	"strings"
	"testing"
)

func TestParseUnescapesPointsAndReadsTypes(t *testing.T) {
	info := `22 1 0:21 / / rw,relatime shared:1 - ext4 /dev/vda rw
35 22 0:31 / /srv/with\040space rw,nosuid - fuse.ncvfs ncvfs rw,user_id=0
36 22 0:32 / /srv/tab\011and\134backslash rw - fuse.rclone ncbench: rw
short line
`
	got, err := Parse(strings.NewReader(info))
	if err != nil {
		t.Fatal(err)
	}
	want := []Mount{
		{"/", "ext4", "rw"},
		{"/srv/with space", "fuse.ncvfs", "rw,user_id=0"},
		{"/srv/tab\tand\\backslash", "fuse.rclone", "rw"},
	}
	if !slices.Equal(got, want) {
		t.Errorf("Parse = %q, want %q", got, want)
	}
	if !got[1].HasOption("user_id=0") || got[1].HasOption("user_id") || got[0].HasOption("") {
		t.Errorf("HasOption of %q", got[1].SuperOptions)
	}
}

func TestUnescapeLeavesIncompleteEscapesAlone(t *testing.T) {
	for in, want := range map[string]string{
		`/a\04`:    `/a\04`,
		`/a\`:      `/a\`,
		`/a\999b`:  `/a\999b`,
		`/a\040`:   `/a `,
		`/plain`:   `/plain`,
		`\040\040`: `  `,
	} {
		if got := Unescape(in); got != want {
			t.Errorf("Unescape(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestRootIsMounted(t *testing.T) {
	if ok, err := IsMounted("/"); err != nil || !ok {
		t.Fatalf("IsMounted(/) = %v, %v", ok, err)
	}
	if ok, err := IsMounted(t.TempDir()); err != nil || ok {
		t.Fatalf("a fresh temp folder is reported mounted: %v, %v", ok, err)
	}
}
