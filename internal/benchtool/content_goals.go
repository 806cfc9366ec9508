package main

import (
	"errors"
	"fmt"
)

// rssLimit is the content goals' bound on the mount process's peak memory.
const rssLimit = 64 << 20

// contentGoals are the content-reading targets for ncvfs.
func contentGoals() []goal {
	return []goal{
		{
			text:  "ncvfs cold sequential read ≥ 0.9 × curl's download-and-store throughput",
			limit: 0.9, cmp: atLeast,
			ratio: func(r *results) (float64, string, error) {
				return throughputRatio(r, keyColdRead, colNcvfs, colRaw)
			},
		},
		{
			text:  "ncvfs cold `head -c 4096` ≤ 0.25 × rclone's",
			limit: 0.25,
			ratio: func(r *results) (float64, string, error) {
				ours, err1 := r.get(keyColdHead, colNcvfs)
				theirs, err2 := r.get(keyColdHead, colRclone)
				if err := firstErr(err1, err2); err != nil {
					return 0, "", err
				}
				return float64(ours) / float64(theirs), fmt.Sprintf("%s ms vs %s ms", ms(ours), ms(theirs)), nil
			},
		},
		{
			text:  "ncvfs warm re-read ≥ 0.9 × local disk (page cache) throughput",
			limit: 0.9, cmp: atLeast,
			ratio: func(r *results) (float64, string, error) {
				return throughputRatio(r, keyWarmRead, colNcvfs, colLocal)
			},
		},
		{
			text:  "ncvfs random 4 KiB reads: bytes fetched ≤ 16 × bytes read",
			limit: 16,
			ratio: func(r *results) (float64, string, error) {
				c, err := r.usableCell(keyColdRandom, colNcvfs)
				if err != nil {
					return 0, "", err
				}
				w := r.workload(keyColdRandom)
				if len(c.fetched) == 0 {
					return 0, "", errors.New("ncvfs: the server's counters were not read")
				}
				ratio := fetchRatio(c, w.readBytes)
				return ratio, fmt.Sprintf("%s fetched for %s read", mib(int64(ratio*float64(w.readBytes))), mib(w.readBytes)), nil
			},
		},
		{
			text:  "ncvfs cold cat of the small files ≤ 1 ms per file",
			limit: 1,
			ratio: func(r *results) (float64, string, error) {
				d, err := r.get(keyColdSmall, colNcvfs)
				if err != nil {
					return 0, "", err
				}
				w := r.workload(keyColdSmall)
				per := perItemMs(d, w.items)
				return per, fmt.Sprintf("%.3f ms per file (%d files in %s ms)", per, w.items, ms(d)), nil
			},
		},
		rssGoal("ncvfs peak RSS reading the large file < 64 MiB", keyColdRead),
		rssGoal("ncvfs peak RSS reading the small files < 64 MiB", keyColdSmall),
	}
}

// throughputRatio is ours' throughput over the reference's, for the same bytes: the
// inverse ratio of the times.
func throughputRatio(r *results, key, ours, ref string) (float64, string, error) {
	a, err1 := r.get(key, ours)
	b, err2 := r.get(key, ref)
	if err := firstErr(err1, err2); err != nil {
		return 0, "", err
	}
	n := r.workload(key).readBytes
	return float64(b) / float64(a), fmt.Sprintf("%.0f MiB/s vs %.0f MiB/s", throughput(n, a), throughput(n, b)), nil
}

// rssGoal bounds the peak memory ncvfs's mount process reached in a workload.
func rssGoal(text, key string) goal {
	return goal{
		text: text, limit: 1, cmp: below,
		ratio: func(r *results) (float64, string, error) {
			c, err := r.usableCell(key, colNcvfs)
			if err != nil {
				return 0, "", err
			}
			if c.peakRSS <= 0 {
				return 0, "", fmt.Errorf("ncvfs: no peak RSS read in %s", r.label(key))
			}
			return float64(c.peakRSS) / rssLimit, fmt.Sprintf("%s vs %s", mib(c.peakRSS), mib(rssLimit)), nil
		},
	}
}
