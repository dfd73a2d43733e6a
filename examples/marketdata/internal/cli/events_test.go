package cli

import (
	"strings"
	"sync"
	"testing"
	"time"
)

// TestEventPrinter: 20,000 gap events within a second print 20 lines and
// one summary of the other 19,980 (with the messages they left out); an
// event a second later opens a new period; flush sums up what is left.
func TestEventPrinter(t *testing.T) {
	var b strings.Builder
	p := &eventPrinter{mu: new(sync.Mutex), w: &b, limit: 20, period: time.Second}
	t0 := time.Date(2024, 1, 2, 9, 30, 0, 0, time.UTC)
	for i := range 20_000 {
		p.printf(t0.Add(time.Duration(i)*time.Microsecond), gapEvent, 3, "gap %d\n", i)
	}
	p.flush(t0.Add(500*time.Millisecond), false) // the period is not over
	if n := strings.Count(b.String(), "\n"); n != 20 {
		t.Fatalf("%d lines before the period ended, want 20", n)
	}
	p.printf(t0.Add(1500*time.Millisecond), sessionEvent, 0, "session\n")
	for range 30 {
		p.printf(t0.Add(1600*time.Millisecond), lineEvent, 0, "line\n")
	}
	p.flush(t0.Add(1700*time.Millisecond), true)
	lines := strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
	if len(lines) != 20+1+20+1 || lines[19] != "gap 19" || lines[21] != "session" {
		t.Fatalf("%d lines:\n%s", len(lines), b.String())
	}
	want := []string{
		"09:30:01.500000 suppressed 19980 event lines since 09:30:00.000020 (more than 20 a second): 19980 gaps (59940 missing), 0 line and 0 session events",
		"09:30:01.700000 suppressed 11 event lines since 09:30:01.600000 (more than 20 a second): 0 gaps (0 missing), 11 line and 0 session events",
	}
	if lines[20] != want[0] || lines[41] != want[1] {
		t.Errorf("summaries:\n%s\n%s\nwant:\n%s\n%s", lines[20], lines[41], want[0], want[1])
	}

	// No limit: everything printed.
	b.Reset()
	p = &eventPrinter{mu: new(sync.Mutex), w: &b, period: time.Second}
	for i := range 100 {
		p.printf(t0, gapEvent, 1, "gap %d\n", i)
	}
	p.flush(t0, true)
	if n := strings.Count(b.String(), "\n"); n != 100 {
		t.Errorf("%d lines without a limit, want 100", n)
	}
}
