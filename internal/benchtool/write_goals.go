package main

import (
	"fmt"
	"time"
)

// writeGoals are the write-back issue's targets for ncvfs, worded with the sizes of the
// write tree in use.
func writeGoals(ws []workload) []goal {
	var big, small, tared workload
	for _, w := range ws {
		switch w.key {
		case keyWriteBig:
			big = w
		case keyWriteSmall:
			small = w
		case keyWriteTar:
			tared = w
		}
	}
	return []goal{
		{
			text:  fmt.Sprintf("ncvfs write %s until the server holds it ≤ 1.25 × `curl -T`", sizeLabel(big.readBytes)),
			limit: 1.25,
			ratio: func(r *results) (float64, string, error) {
				return timeRatio(r, keyWriteBig, colNcvfs, colRaw)
			},
		},
		{
			text:  fmt.Sprintf("ncvfs write %s small files until the server holds them ≤ 1.5 × curl PUTs over one connection", countLabel(small.items)),
			limit: 1.5,
			ratio: func(r *results) (float64, string, error) {
				return timeRatio(r, keyWriteSmall, colNcvfs, colRaw)
			},
		},
		{
			text:  fmt.Sprintf("ncvfs `tar x` of %s files ≤ 3 × local disk (until tar returns)", countLabel(tared.items)),
			limit: 3,
			ratio: func(r *results) (float64, string, error) {
				return timeRatio(r, keyWriteTar, colNcvfs, colLocal)
			},
		},
	}
}

// timeRatio is ours' median time over the reference's, in seconds.
func timeRatio(r *results, key, ours, ref string) (float64, string, error) {
	a, err1 := r.get(key, ours)
	b, err2 := r.get(key, ref)
	if err := firstErr(err1, err2); err != nil {
		return 0, "", err
	}
	return float64(a) / float64(b), fmt.Sprintf("%s vs %s", secs(a), secs(b)), nil
}

func secs(d time.Duration) string { return fmt.Sprintf("%.2f s", d.Seconds()) }
