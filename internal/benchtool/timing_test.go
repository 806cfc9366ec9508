package main

import (
	"context"
	"strings"
	"testing"
	"time"
)

func TestMedian(t *testing.T) {
	for _, tc := range []struct {
		in   []time.Duration
		want time.Duration
	}{
		{nil, 0},
		{[]time.Duration{7}, 7},
		{[]time.Duration{9, 1, 5}, 5},
		{[]time.Duration{4, 1, 3, 10}, 3}, // (3+4)/2 in integer nanoseconds
		{[]time.Duration{10, 20}, 15},
	} {
		in := append([]time.Duration(nil), tc.in...)
		if got := median(in); got != tc.want {
			t.Errorf("median(%v) = %v, want %v", tc.in, got, tc.want)
		}
		for i := range in {
			if in[i] != tc.in[i] {
				t.Errorf("median reordered its input: %v", in)
			}
		}
	}
}

func TestMsHasOneDecimal(t *testing.T) {
	if got := ms(12345678 * time.Nanosecond); got != "12.3" {
		t.Errorf("ms = %q, want 12.3", got)
	}
	if got := ms(1500 * time.Millisecond); got != "1500.0" {
		t.Errorf("ms = %q, want 1500.0", got)
	}
}

func TestTimeCommand(t *testing.T) {
	d, err := timeCommand(context.Background(), "true")
	if err != nil || d <= 0 {
		t.Errorf("timeCommand(true) = %v, %v", d, err)
	}
	_, err = timeCommand(context.Background(), "sh", "-c", "echo boom >&2; exit 3")
	if err == nil || !strings.Contains(err.Error(), "boom") || !strings.Contains(err.Error(), "exit status 3") {
		t.Errorf("a failing command gave %v, want its exit status and stderr", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := timeCommand(ctx, "sleep", "10"); err == nil {
		t.Error("a cancelled context still ran the command to the end")
	}
}

func TestRunWithStdinPassesTheInput(t *testing.T) {
	out, err := runWithStdin(context.Background(), "secret\n", "cat")
	if err != nil || out != "secret\n" {
		t.Errorf("runWithStdin = %q, %v", out, err)
	}
}

func TestLimitedBufferKeepsTheStart(t *testing.T) {
	b := &limitedBuffer{max: 5}
	n, err := b.Write([]byte("abc"))
	if n != 3 || err != nil {
		t.Fatalf("Write = %d, %v", n, err)
	}
	if n, _ := b.Write([]byte("defgh")); n != 5 {
		t.Errorf("Write reported %d bytes, want all 5 accepted", n)
	}
	if b.String() != "abcde" {
		t.Errorf("kept %q, want abcde", b.String())
	}
}
