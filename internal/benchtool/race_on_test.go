//go:build race

package main

// raceEnabled lets the end-to-end test build its helper binaries the way the test
// itself was built, so that they reuse the packages the test run has compiled already.
const raceEnabled = true
