package main

import (
	"fmt"
	"os"
	"testing"
)

// TestMain lets the test binary stand in for the driver's binary as the random-read
// helper, as the real driver runs itself.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == helperRandRead {
		if err := randRead(os.Args[2:], os.Stdout, os.Stderr); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}
