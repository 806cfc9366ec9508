package main

import (
	"go/parser"
	"go/token"
	"io"
	"strings"
	"testing"

	"github.com/ncvfs/ncvfs/internal/benchtool/treespec"
)

func TestParseFlagsDefaults(t *testing.T) {
	c, err := parseFlags(nil, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.repeats != (repeats{cold: 5, warm: 10, content: 3, write: 3}) || c.tree != defaultTree ||
		c.writeTree != defaultWriteTree || !c.listing() || !c.content() || !c.writing() {
		t.Errorf("defaults: %+v", c)
	}
	// The default tree has every folder the workloads need.
	spec, err := treespec.Parse(c.tree)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := listingWorkloads(spec, c.flatFolder, c.treeFolder); err != nil {
		t.Error(err)
	}
	if _, err := contentWorkloads(spec, contentSetup{bigFolder: c.bigFolder, smallFolder: c.smallFolder}); err != nil {
		t.Error(err)
	}
	wspec, err := treespec.Parse(c.writeTree)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := planWrites(wspec); err != nil {
		t.Error(err)
	}
	for _, n := range clientNames {
		if !c.only[n] {
			t.Errorf("client %s not selected by default", n)
		}
	}
}

func TestParseFlagsOnly(t *testing.T) {
	c, err := parseFlags([]string{"--only", "ncvfs, local", "--ncvfs-args", "--listing-ttl 1m"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if !c.only[colNcvfs] || !c.only[colLocal] || c.only[colRclone] {
		t.Errorf("--only ncvfs,local selected %v", c.only)
	}
	if strings.Join(c.ncvfsArgs, "|") != "--listing-ttl|1m" {
		t.Errorf("ncvfs args %q", c.ncvfsArgs)
	}
	for _, bad := range [][]string{
		{"--only", "nfs"}, {"--repeat-cold", "0"}, {"--repeat-warm", "-1"}, {"stray"}, {"--keep"},
		{"--repeat-content", "0"}, {"--repeat-write", "0"}, {"--workloads", "listing"}, {"--workloads", ""},
		{"--workloads", "list,"}, {"--upload-stall", "0s"},
	} {
		if _, err := parseFlags(bad, io.Discard); err == nil {
			t.Errorf("parseFlags(%q) succeeded", bad)
		}
	}
}

func TestParseFlagsWorkloads(t *testing.T) {
	for arg, want := range map[string][3]bool{
		"list": {true, false, false}, "content": {false, true, false}, "write": {false, false, true}, "all": {true, true, true},
		"list,content": {true, true, false}, "write, list": {true, false, true},
	} {
		c, err := parseFlags([]string{"--workloads", arg}, io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		if c.listing() != want[0] || c.content() != want[1] || c.writing() != want[2] {
			t.Errorf("--workloads %s: listing %v content %v writing %v", arg, c.listing(), c.content(), c.writing())
		}
	}
}

func TestListingWorkloadsNeedTheirFolders(t *testing.T) {
	spec, _ := treespec.Parse("flat=5000,tree=100x100")
	ws, err := listingWorkloads(spec, "flat", "tree")
	if err != nil {
		t.Fatal(err)
	}
	var labels []string
	for _, w := range ws {
		labels = append(labels, w.label)
		if w.run == nil || w.raw == nil || w.check == nil {
			t.Errorf("workload %s lacks a runner, a raw reference or a check", w.key)
		}
	}
	if got := strings.Join(labels, ", "); got != "cold ls -l 5k, warm ls -l 5k, cold find 10k, warm find 10k" {
		t.Errorf("labels: %s", got)
	}
	if _, err := listingWorkloads(spec, "flat", "nope"); err == nil {
		t.Error("a missing find folder was accepted")
	}
	if _, err := listingWorkloads(spec, "nope", "tree"); err == nil {
		t.Error("a missing ls folder was accepted")
	}
}

// The package comment and the printed methodology must say the same.
func TestMethodologyMatchesThePackageComment(t *testing.T) {
	f, err := parser.ParseFile(token.NewFileSet(), "main.go", nil, parser.ParseComments|parser.PackageClauseOnly)
	if err != nil {
		t.Fatal(err)
	}
	doc := strings.Join(strings.Fields(f.Doc.Text()), " ")
	for line := range strings.SplitSeq(strings.TrimSpace(methodology), "\n") {
		item := strings.Join(strings.Fields(strings.TrimPrefix(line, "- ")), " ")
		if !strings.Contains(doc, item) {
			t.Errorf("the package comment lacks: %s", item)
		}
	}
}
