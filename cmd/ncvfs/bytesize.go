package main

import (
	"fmt"
	"strconv"
	"strings"
)

// byteSize is a flag value like "20G", "500M" or "1048576" (binary units).
type byteSize int64

func (b *byteSize) String() string {
	units := []string{"", "K", "M", "G", "T"}
	v, i := int64(*b), 0
	for v >= 1024 && v%1024 == 0 && i < len(units)-1 {
		v /= 1024
		i++
	}
	return strconv.FormatInt(v, 10) + units[i]
}

func (b *byteSize) Set(s string) error {
	t := strings.ToUpper(strings.TrimSuffix(strings.TrimSuffix(strings.TrimSpace(s), "B"), "I"))
	shift := 0
	if n := len(t); n > 0 {
		switch t[n-1] {
		case 'K':
			shift = 10
		case 'M':
			shift = 20
		case 'G':
			shift = 30
		case 'T':
			shift = 40
		}
		if shift > 0 {
			t = t[:n-1]
		}
	}
	v, err := strconv.ParseInt(t, 10, 64)
	if err != nil || v < 0 || v > (1<<62)>>shift {
		return fmt.Errorf("want a size such as 20G, 500M or 1048576, got %q", s)
	}
	*b = byteSize(v << shift)
	return nil
}
