package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/ncvfs/ncvfs/davclient/davtest"
)

// helperRandRead is the driver's subcommand that does the random-read workload as a
// child process of its own, like the other workloads' commands:
//
//	benchtool randread --count 100 --size 4096 --seed 1 --content-seed S FILE
//
// It opens FILE, times only the preads at random block-aligned offsets, then checks
// every block against the synthetic content of seed S and prints one line,
// "reads=N bytes=B elapsed_ns=T".
const helperRandRead = "randread"

// randomOffsets are count offsets of size-byte blocks inside a file of fileSize bytes,
// aligned to size as a database's or an image viewer's reads are, from a fixed seed so
// that every client reads the same blocks.
func randomOffsets(seed uint64, fileSize, size int64, count int) ([]int64, error) {
	if size <= 0 || fileSize < size || count < 1 {
		return nil, fmt.Errorf("benchtool: %d random reads of %d bytes do not fit in a file of %d bytes", count, size, fileSize)
	}
	r := rand.New(rand.NewPCG(seed, seed^0x5eed))
	out := make([]int64, count)
	for i := range out {
		out[i] = r.Int64N(fileSize/size) * size
	}
	return out, nil
}

func randRead(args []string, stdout, stderr io.Writer) error {
	fl := flag.NewFlagSet("benchtool randread", flag.ContinueOnError)
	fl.SetOutput(stderr)
	count := fl.Int("count", 100, "number of reads")
	size := fl.Int("size", 4096, "bytes per read")
	seed := fl.Uint64("seed", 1, "seed of the offsets")
	contentSeed := fl.Uint64("content-seed", 0, "seed of the file's synthetic content, to check what was read")
	if err := fl.Parse(args); err != nil {
		return err
	}
	if fl.NArg() != 1 {
		return errors.New("randread: want one FILE")
	}
	if *size < 1 || *size > 64<<20 {
		return fmt.Errorf("randread: --size %d: want 1 byte to 64 MiB", *size)
	}
	f, err := os.Open(fl.Arg(0))
	if err != nil {
		return fmt.Errorf("randread: %w", err)
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return fmt.Errorf("randread: %w", err)
	}
	offsets, err := randomOffsets(*seed, info.Size(), int64(*size), *count)
	if err != nil {
		return err
	}
	bufs := make([][]byte, len(offsets))
	for i := range bufs {
		bufs[i] = make([]byte, *size)
	}

	start := time.Now()
	for i, off := range offsets {
		n, err := f.ReadAt(bufs[i], off)
		if err != nil {
			return fmt.Errorf("randread: read %d bytes at %d: got %d: %w", *size, off, n, err)
		}
	}
	elapsed := time.Since(start)

	for i, off := range offsets {
		if !bytes.Equal(bufs[i], davtest.SyntheticBytes(*contentSeed, off, *size)) {
			return fmt.Errorf("randread: wrong bytes at offset %d (read %d of %d)", off, i+1, len(offsets))
		}
	}
	_, err = fmt.Fprintf(stdout, "reads=%d bytes=%d elapsed_ns=%d\n", len(offsets), len(offsets)**size, elapsed.Nanoseconds())
	return err
}

// parseRandRead reads the helper's line back.
func parseRandRead(out string) (reads int, bytesRead int64, elapsed time.Duration, err error) {
	var ns int64
	fields := map[string]*int64{"bytes": &bytesRead, "elapsed_ns": &ns}
	var r int64
	fields["reads"] = &r
	parts := strings.Fields(out)
	if len(parts) != len(fields) {
		return 0, 0, 0, fmt.Errorf("benchtool: randread said %q, want reads=N bytes=B elapsed_ns=T", out)
	}
	for _, p := range parts {
		k, v, _ := strings.Cut(p, "=")
		dst, ok := fields[k]
		if !ok {
			return 0, 0, 0, fmt.Errorf("benchtool: randread said %q: unknown %q", out, k)
		}
		if *dst, err = strconv.ParseInt(v, 10, 64); err != nil || *dst < 0 {
			return 0, 0, 0, fmt.Errorf("benchtool: randread said %q: bad %s", out, k)
		}
		delete(fields, k)
	}
	return int(r), bytesRead, time.Duration(ns), nil
}
