package main

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"maps"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ncvfs/ncvfs/davclient/davtest"
	"github.com/ncvfs/ncvfs/internal/benchtool/treespec"
)

// Workload keys of the writing rows.
const (
	keyWriteBig   = "write-big"
	keyWriteSmall = "write-small"
	keyWriteTar   = "write-tar"
)

// defaultWriteTree is what the write workloads write, in the --tree syntax: one file of
// 1 GiB (folder big), 1,000 files of 4 KiB (folder small), and 10,000 files of 4 KiB in
// 100 folders (folder tar, packed into a tar archive).
const defaultWriteTree = "big=1:1G,small=1000:4K,tar=100x100:4K"

// writeFolder is the server folder every writing run writes into; the server empties it
// before each run, so that no run finds an earlier one's files.
const writeFolder = "bench-writes"

const (
	// writeBudget: see workload.budget.
	writeBudget = 60 * time.Second
	// uploadTimeout bounds the wait for the server to hold everything a run wrote, and
	// stallTimeout the wait while what it holds does not change at all (a client
	// retrying an upload that cannot succeed). One PUT of 1 GiB changes nothing until
	// it ends.
	uploadTimeout = 10 * time.Minute
	stallTimeout  = 2 * time.Minute
	// wrongBytesGrace is how long a client whose upload has the right counts but wrong
	// bytes may take to upload the right ones before its cell is marked wrong.
	wrongBytesGrace = 10 * time.Second
	// pollEvery: how often the server's summary of the folder is read while waiting.
	// One read costs the server a walk of the folder under its read lock, well under a
	// millisecond for 10,000 files.
	pollEvery = 10 * time.Millisecond
)

// fileSet is what a writing run must leave in the folder it wrote into: every file by
// slash path relative to that folder, with its SHA-256.
type fileSet struct {
	sha256 map[string]string
	bytes  int64
}

func (f fileSet) files() int { return len(f.sha256) }

// compare reports the first difference between the wanted files and got (path to hex
// SHA-256).
func (f fileSet) compare(got map[string]string) error {
	for _, p := range slices.Sorted(maps.Keys(f.sha256)) {
		g, ok := got[p]
		switch {
		case !ok:
			return fmt.Errorf("%s is missing", p)
		case g != f.sha256[p]:
			return fmt.Errorf("%s holds other bytes than were written", p)
		}
	}
	for _, p := range slices.Sorted(maps.Keys(got)) {
		if _, ok := f.sha256[p]; !ok {
			return fmt.Errorf("unexpected file %s", p)
		}
	}
	return nil
}

// writeJob is what a writing row does.
type writeJob struct {
	// command is the child process that writes into dir, an empty folder of the client.
	command func(dir string) child
	// checkOutput, when set, checks what the command printed (dd's byte count).
	checkOutput func(childRun) error
	// raw uploads the same files with curl into the server folder rel; nil: no reference.
	raw func(ctx context.Context, c *curlRunner, rel string) (time.Duration, error)
	// want is what the folder must hold afterwards.
	want fileSet
	// untilUploaded: a mount's sample lasts until the server holds every byte. Otherwise
	// it lasts until the command returns, and when the server held everything is
	// reported beside it.
	untilUploaded bool
	server        *serverCounters
	// localDir makes a new empty folder on local disk, for the local-disk column.
	localDir func() (string, error)
	// wrongGrace and stall: see wrongBytesGrace and stallTimeout.
	wrongGrace, stall time.Duration
}

// writeSample is one writing run.
type writeSample struct {
	returned time.Duration // the command returned
	uploaded time.Duration // the server held everything (0 on local disk)
	checkErr error         // what was written is not what the server or the disk holds
}

// writeSetup is what the write workloads need.
type writeSetup struct {
	spec   treespec.Spec // what to write: folders big, small and tar
	srcDir string        // where the sources are made on local disk
	server *serverCounters
	// localDir makes a new empty folder on local disk.
	localDir func() (string, error)
	// stall: see stallTimeout (0: that).
	stall time.Duration
}

// writePlan is the write tree's files, checked.
type writePlan struct {
	big          treespec.Entry
	small, tared []treespec.Entry
	tarDirs      []treespec.Entry
}

// planWrites checks that the write tree has the folders the workloads need.
func planWrites(spec treespec.Spec) (writePlan, error) {
	var p writePlan
	var err error
	if p.big, err = firstFile(spec, "big"); err != nil {
		return p, err
	}
	small, ok := spec.Folder("small")
	if !ok || len(small.Fanout) != 0 || small.Files == 0 {
		return p, fmt.Errorf("benchtool: the write tree %q needs a folder small of files without subfolders (e.g. small=1000:4K): curl PUTs them into one folder", spec)
	}
	if p.small, err = filesUnder(spec, "small"); err != nil {
		return p, err
	}
	if p.tared, err = filesUnder(spec, "tar"); err != nil {
		return p, err
	}
	if len(p.tared) == 0 {
		return p, fmt.Errorf("benchtool: the write tree %q has no files below tar", spec)
	}
	err = spec.Walk(func(e treespec.Entry) error {
		if e.IsDir && (e.Path == "tar" || strings.HasPrefix(e.Path, "tar/")) {
			p.tarDirs = append(p.tarDirs, e)
		}
		return nil
	})
	return p, err
}

// writeWorkloads makes the sources on local disk (the large file, the small files, the
// tar archive; the page cache keeps them for the runs) and returns the writing rows:
// the large file with dd and the small files with cp, each until the server holds
// them, next to curl PUTs of the same files; tar x, until tar returns, next to local
// disk.
func writeWorkloads(s writeSetup) ([]workload, error) {
	plan, err := planWrites(s.spec)
	if err != nil {
		return nil, err
	}
	bigSrc := filepath.Join(s.srcDir, filepath.FromSlash(plan.big.Path))
	smallSrc := filepath.Join(s.srcDir, "small")
	archive := filepath.Join(s.srcDir, "tree.tar")
	if err := os.MkdirAll(smallSrc, 0o700); err != nil {
		return nil, fmt.Errorf("benchtool: write sources: %w", err)
	}
	bigSum, err := writeSource(bigSrc, plan.big)
	if err != nil {
		return nil, err
	}
	bigName := path.Base(plan.big.Path)
	bigWant := fileSet{sha256: map[string]string{bigName: bigSum}, bytes: plan.big.Size}

	smallWant := fileSet{sha256: map[string]string{}}
	smallFiles := make([]string, len(plan.small))
	smallRels := make([]string, len(plan.small))
	for i, e := range plan.small {
		rel := strings.TrimPrefix(e.Path, "small/")
		smallFiles[i] = filepath.Join(smallSrc, filepath.FromSlash(rel))
		smallRels[i] = rel
		sum, err := writeSource(smallFiles[i], e)
		if err != nil {
			return nil, err
		}
		smallWant.sha256[rel] = sum
		smallWant.bytes += e.Size
	}
	tarWant, err := writeArchive(archive, plan.tarDirs, plan.tared)
	if err != nil {
		return nil, err
	}

	stall := s.stall
	if stall <= 0 {
		stall = stallTimeout
	}
	job := func(j writeJob) *writeJob {
		j.server, j.localDir, j.wrongGrace, j.stall = s.server, s.localDir, wrongBytesGrace, stall
		return &j
	}
	bigJob := job(writeJob{
		command: func(dir string) child {
			return child{args: []string{"dd", "if=" + bigSrc, "of=" + filepath.Join(dir, bigName), "bs=1M", "conv=fsync"},
				env: []string{"LC_ALL=C"}}
		},
		checkOutput: func(r childRun) error { return checkDDCount(r.stderr, plan.big.Size) },
		raw: func(ctx context.Context, c *curlRunner, rel string) (time.Duration, error) {
			return c.putEach(ctx, []string{bigSrc}, []string{rel + "/" + bigName})
		},
		want: bigWant, untilUploaded: true,
	})
	smallJob := job(writeJob{
		// "SRC/." copies the folder's contents into the existing folder.
		command: func(dir string) child { return child{args: []string{"cp", "-r", smallSrc + "/.", dir}} },
		raw: func(ctx context.Context, c *curlRunner, rel string) (time.Duration, error) {
			rels := make([]string, len(smallRels))
			for i, r := range smallRels {
				rels[i] = rel + "/" + r
			}
			return c.putEach(ctx, smallFiles, rels)
		},
		want: smallWant, untilUploaded: true,
	})
	tarJob := job(writeJob{
		command: func(dir string) child { return child{args: []string{"tar", "-xf", archive, "-C", dir}} },
		want:    tarWant,
	})

	smallLabel := countLabel(len(plan.small)) + " files"
	if f, _ := s.spec.Folder("small"); f.FileSize > 0 {
		smallLabel = countLabel(len(plan.small)) + " × " + sizeLabel(f.FileSize) + " files"
	}
	tarLabel := countLabel(len(plan.tared)) + " files"
	if f, _ := s.spec.Folder("tar"); f.FileSize > 0 {
		tarLabel = countLabel(len(plan.tared)) + " × " + sizeLabel(f.FileSize) + " files"
	}
	ws := []workload{
		{key: keyWriteBig, label: "write " + sizeLabel(plan.big.Size) + " (dd bs=1M conv=fsync), until on the server",
			unit: unitThroughput, readBytes: plan.big.Size, write: bigJob},
		{key: keyWriteSmall, label: "write " + smallLabel + " (cp -r), until on the server",
			unit: unitPerFile, readBytes: smallWant.bytes, items: len(plan.small), write: smallJob},
		{key: keyWriteTar, label: "tar x of " + tarLabel + ", until tar returns",
			unit: unitPerFile, readBytes: tarWant.bytes, items: len(plan.tared), write: tarJob},
	}
	for i := range ws {
		ws[i].group, ws[i].cold, ws[i].budget = groupWriting, true, writeBudget
	}
	return ws, nil
}

// writeSource writes e's synthetic content to p and returns its SHA-256.
func writeSource(p string, e treespec.Entry) (string, error) {
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return "", fmt.Errorf("benchtool: write sources: %w", err)
	}
	f, err := os.OpenFile(p, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
	if err != nil {
		return "", fmt.Errorf("benchtool: write sources: %w", err)
	}
	h := sha256.New()
	_, err = io.Copy(io.MultiWriter(f, h), io.NewSectionReader(davtest.SyntheticReaderAt(e.Seed, e.Size), 0, e.Size))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return "", fmt.Errorf("benchtool: write source %s: %w", e.Path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// writeArchive packs the folders and files into a tar archive at p, as a source tree
// would be, and returns what extracting it leaves.
func writeArchive(p string, dirs, files []treespec.Entry) (fileSet, error) {
	want := fileSet{sha256: map[string]string{}}
	f, err := os.OpenFile(p, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
	if err != nil {
		return want, fmt.Errorf("benchtool: write the tar archive: %w", err)
	}
	tw := tar.NewWriter(f)
	err = func() error {
		for _, d := range dirs {
			if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: d.Path + "/", Mode: 0o755, ModTime: d.ModTime, Format: tar.FormatPAX}); err != nil {
				return err
			}
		}
		for _, e := range files {
			if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: e.Path, Mode: 0o644, Size: e.Size, ModTime: e.ModTime, Format: tar.FormatPAX}); err != nil {
				return err
			}
			h := sha256.New()
			if _, err := io.Copy(io.MultiWriter(tw, h), io.NewSectionReader(davtest.SyntheticReaderAt(e.Seed, e.Size), 0, e.Size)); err != nil {
				return err
			}
			want.sha256[e.Path] = hex.EncodeToString(h.Sum(nil))
			want.bytes += e.Size
		}
		return tw.Close()
	}()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return want, fmt.Errorf("benchtool: write the tar archive: %w", err)
	}
	return want, nil
}

// checkDDCount checks from dd's summary (LC_ALL=C) that it copied size bytes.
func checkDDCount(stderr string, size int64) error {
	m := ddCopied.FindStringSubmatch(stderr)
	if m == nil {
		return fmt.Errorf("benchtool: dd printed no byte count: %q", stderr)
	}
	if n, _ := strconv.ParseInt(m[1], 10, 64); n != size {
		return fmt.Errorf("benchtool: dd copied %s bytes, want %d", m[1], size)
	}
	return nil
}

// measureWrite times a writing row on a client: every sample writes into the emptied
// server folder through a fresh mount (local disk: a new folder) and, on a mount, waits
// until the server holds every byte, then checks them.
func measureWrite(ctx context.Context, c client, w workload, reps int) cell {
	job := w.write
	var out cell
	start := time.Now()
	for i := range reps {
		if i > 0 && w.budget > 0 && time.Since(start) > w.budget {
			break
		}
		if err := job.server.resetFolder(ctx, writeFolder); err != nil {
			out.err = err
			return out
		}
		flushDisk()
		var s writeSample
		var err error
		if !c.hasColdState() {
			// Local disk: nothing to mount, nothing to upload.
			var dir string
			if dir, err = job.localDir(); err == nil {
				s, err = job.runLocal(ctx, dir)
			}
		} else {
			err = oneView(ctx, c, &out, func(v view) error {
				dir := filepath.Join(v.dir(), writeFolder)
				// Looked up untimed: one writes into a folder the mount already shows.
				if _, err := os.Stat(dir); err != nil {
					return fmt.Errorf("benchtool: the emptied folder on the mount: %w", err)
				}
				var err error
				s, err = job.runRemote(ctx, dir, flushOf(c))
				return err
			})
		}
		if err != nil {
			out.err = err
			return out
		}
		if !c.hasColdState() || !job.untilUploaded {
			out.samples = append(out.samples, s.returned)
		} else {
			out.samples = append(out.samples, s.uploaded)
		}
		if c.hasColdState() {
			out.returned = append(out.returned, s.returned)
			out.uploaded = append(out.uploaded, s.uploaded)
		}
		if s.checkErr != nil {
			// Wrong or missing bytes: the cell gets no PASS whatever the other runs
			// show, and a client that never completes would cost minutes per run.
			out.checkErr = s.checkErr
			return out
		}
	}
	return out
}

// measureWriteRaw times curl's upload of the same files into the emptied server folder,
// until the server holds them, checked the same way as a mount's.
func measureWriteRaw(ctx context.Context, w workload, c *curlRunner, reps int) cell {
	job := w.write
	if job.raw == nil {
		return cell{notApplicable: true}
	}
	var out cell
	first := time.Now()
	for i := range reps {
		if i > 0 && w.budget > 0 && time.Since(first) > w.budget {
			break
		}
		if err := job.server.resetFolder(ctx, writeFolder); err != nil {
			out.err = err
			return out
		}
		flushDisk()
		start := time.Now()
		if _, err := job.raw(ctx, c, writeFolder); err != nil {
			out.err = err
			return out
		}
		uploaded, checkErr, err := job.awaitServer(ctx, start)
		if err != nil {
			out.err = err
			return out
		}
		out.samples = append(out.samples, uploaded)
		if checkErr != nil {
			out.checkErr = checkErr
			return out
		}
	}
	return out
}

// flusher is a client with a command that waits until its changes are uploaded.
type flusher interface {
	flush(ctx context.Context, dir string) error
}

func flushOf(c client) func(ctx context.Context, dir string) error {
	if f, ok := c.(flusher); ok {
		return f.flush
	}
	return nil
}

// runRemote runs the command into dir on a mount, then the client's flush if it has
// one (as a user would: "write, then wait until it is uploaded"), and waits until the
// server holds what it wrote; the server's word decides, not the flush's.
func (j *writeJob) runRemote(ctx context.Context, dir string, flush func(context.Context, string) error) (writeSample, error) {
	start := time.Now()
	r, err := timeChild(ctx, j.command(dir))
	if err != nil {
		return writeSample{}, err
	}
	if j.checkOutput != nil {
		if err := j.checkOutput(r); err != nil {
			return writeSample{}, err
		}
	}
	if flush != nil && j.untilUploaded {
		if err := flush(ctx, dir); err != nil {
			return writeSample{}, err
		}
	}
	uploaded, checkErr, err := j.awaitServer(ctx, start)
	return writeSample{returned: r.elapsed, uploaded: uploaded, checkErr: checkErr}, err
}

// runLocal runs the command into dir on local disk, then checks the files it left.
func (j *writeJob) runLocal(ctx context.Context, dir string) (writeSample, error) {
	r, err := timeChild(ctx, j.command(dir))
	if err != nil {
		return writeSample{}, err
	}
	if j.checkOutput != nil {
		if err := j.checkOutput(r); err != nil {
			return writeSample{}, err
		}
	}
	got, err := hashTree(dir)
	if err != nil {
		return writeSample{}, err
	}
	var checkErr error
	if err := j.want.compare(got); err != nil {
		checkErr = fmt.Errorf("check %s on local disk: %w", filepath.Base(dir), err)
	}
	return writeSample{returned: r.elapsed, checkErr: checkErr}, nil
}

// awaitServer polls the server's summary of the write folder until it holds the wanted
// number of files and bytes with the wanted hashes, and returns how long after start
// that was first seen. Right counts with wrong bytes get the job's wrongGrace to be put
// right (a client may upload a file twice); then they are a check error, not a time.
// So is an upload that never completes (see stallTimeout); the time returned is then
// how long it was waited for.
func (j *writeJob) awaitServer(ctx context.Context, start time.Time) (time.Duration, error, error) {
	deadline := start.Add(uploadTimeout)
	var last folderState
	lastChange := start
	var hashed string // the last version whose hashes were compared
	var wrong error
	var wrongSince time.Time
	var at time.Duration
	for {
		st, err := j.server.folder(ctx, writeFolder)
		if err != nil {
			return 0, nil, err
		}
		if st != last {
			last, lastChange = st, time.Now()
		}
		if st.Files == j.want.files() && st.Bytes == j.want.bytes && st.Version != hashed {
			seen := time.Since(start)
			sums, err := j.server.folderSHA256(ctx, writeFolder)
			if err != nil {
				return 0, nil, err
			}
			after, err := j.server.folder(ctx, writeFolder)
			if err != nil {
				return 0, nil, err
			}
			// Hashes of a later version than the one counted prove nothing about it.
			if after.Version == st.Version {
				hashed, at = st.Version, seen
				cerr := j.want.compare(sums)
				if cerr == nil {
					return at, nil, nil
				}
				if wrong == nil {
					wrongSince = time.Now()
				}
				wrong = fmt.Errorf("check %s on the server: %w", writeFolder, cerr)
			}
		}
		if wrong != nil && time.Since(wrongSince) > j.wrongGrace {
			return at, wrong, nil
		}
		if now := time.Now(); now.After(deadline) || now.Sub(lastChange) > j.stall {
			return now.Sub(start), fmt.Errorf("the server never held everything: after %.0f s (the last change %.0f s before) it holds %d files of %d bytes in all in %s, want %d files of %d bytes",
				now.Sub(start).Seconds(), now.Sub(lastChange).Seconds(), st.Files, st.Bytes, writeFolder, j.want.files(), j.want.bytes), nil
		}
		select {
		case <-ctx.Done():
			return 0, nil, fmt.Errorf("benchtool: waiting for the server: %w", ctx.Err())
		case <-time.After(pollEvery):
		}
	}
}

// hashTree hashes every file below dir, by slash path relative to it.
func hashTree(dir string) (map[string]string, error) {
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		h := sha256.New()
		if _, err := io.Copy(h, f); err != nil {
			return err
		}
		out[filepath.ToSlash(rel)] = hex.EncodeToString(h.Sum(nil))
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("benchtool: hash %s: %w", filepath.Base(dir), err)
	}
	return out, nil
}

// writableClient is a client whose mounts need other flags to accept writes and upload
// them promptly.
type writableClient interface {
	forWrites() client
}

// forWorkload is the client as the workload needs it.
func forWorkload(c client, w workload) client {
	if wc, ok := c.(writableClient); ok && w.write != nil {
		return wc.forWrites()
	}
	return c
}
