package natsrelay_test

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/sharecast/sharecast/natsrelay"
)

func TestParseMeta(t *testing.T) {
	h := nats.Header{}
	h.Set(natsrelay.HeaderRelay, "r1")
	h.Set(natsrelay.HeaderSeq, "42")
	h.Set(natsrelay.HeaderSource, "10.0.0.1:5000")
	h.Set(natsrelay.HeaderGroup, "239.1.2.3")
	h.Set(natsrelay.HeaderPort, "6000")
	h.Set(natsrelay.HeaderInterface, "eth0")
	h.Set(natsrelay.HeaderIfIndex, "3")
	h.Set(natsrelay.HeaderTTL, "7")
	h.Set(natsrelay.HeaderTime, "1700000000000000001")
	m, ok := natsrelay.ParseMeta(h)
	want := natsrelay.Meta{Relay: "r1", Seq: 42, Source: netip.MustParseAddrPort("10.0.0.1:5000"), Group: netip.MustParseAddr("239.1.2.3"),
		Port: 6000, Interface: "eth0", IfIndex: 3, TTL: 7, Time: time.Unix(0, 1700000000000000001)}
	if !ok || m != want {
		t.Errorf("ParseMeta = %+v, %v; want %+v", m, ok, want)
	}
	for _, bad := range []nats.Header{
		{},
		{natsrelay.HeaderRelay: {"r"}},
		{natsrelay.HeaderRelay: {"r"}, natsrelay.HeaderSeq: {"0"}},
		{natsrelay.HeaderRelay: {"r"}, natsrelay.HeaderSeq: {"-1"}},
		{natsrelay.HeaderSeq: {"5"}},
	} {
		if m, ok := natsrelay.ParseMeta(bad); ok {
			t.Errorf("ParseMeta(%v) = %+v, true; want false", bad, m)
		}
	}
	// Malformed optional fields are zero, not an error; a TTL out of range
	// is absent.
	m, ok = natsrelay.ParseMeta(nats.Header{natsrelay.HeaderRelay: {"r"}, natsrelay.HeaderSeq: {"1"},
		natsrelay.HeaderTTL: {"300"}, natsrelay.HeaderPort: {"70000"}, natsrelay.HeaderIfIndex: {"-2"}, natsrelay.HeaderTime: {"x"}})
	if !ok || m.TTL != -1 || m.Port != 0 || m.IfIndex != 0 || !m.Time.IsZero() {
		t.Errorf("ParseMeta of malformed fields = %+v, %v", m, ok)
	}
}

// FuzzParseMeta: whatever the headers say, ParseMeta does not panic, and
// what it accepts has a relay name and a number of at least 1.
func FuzzParseMeta(f *testing.F) {
	f.Add("r1", "42", "10.0.0.1:5000", "239.1.2.3", "6000", "3", "7", "1700000000000000001")
	f.Add("", "0", "", "", "", "", "", "")
	f.Add("x", "18446744073709551615", "[::1]:1", "ff15::1", "65535", "2147483647", "255", "-1")
	f.Fuzz(func(t *testing.T, relay, seq, src, grp, port, ifi, ttl, tm string) {
		h := nats.Header{natsrelay.HeaderRelay: {relay}, natsrelay.HeaderSeq: {seq}, natsrelay.HeaderSource: {src},
			natsrelay.HeaderGroup: {grp}, natsrelay.HeaderPort: {port}, natsrelay.HeaderIfIndex: {ifi},
			natsrelay.HeaderTTL: {ttl}, natsrelay.HeaderTime: {tm}}
		m, ok := natsrelay.ParseMeta(h)
		if ok && (m.Relay == "" || m.Seq == 0) {
			t.Errorf("accepted %+v", m)
		}
		if m.TTL < -1 || m.TTL > 255 || m.IfIndex < 0 {
			t.Errorf("out of range: %+v", m)
		}
	})
}

func TestRedact(t *testing.T) {
	for in, want := range map[string]string{
		"nats://127.0.0.1:4222":                         "nats://127.0.0.1:4222",
		"nats://u:secret@h:4222":                        "nats://xxxxx@h:4222",
		"nats://token-secret@h:4222,nats://u:secret@h2": "nats://xxxxx@h:4222,nats://xxxxx@h2",
		"h:4222": "h:4222",
	} {
		got := natsrelay.Redact(in)
		if got != want || strings.Contains(got, "secret") {
			t.Errorf("Redact(%q) = %q, want %q", in, got, want)
		}
	}
}

// The Source follows each relay's numbering: gaps counted, late numbers
// delivered once, duplicates and stale numbers skipped, a jump past the
// window a reset; relays beyond the cap evict the one idle longest.
func TestSourceSequence(t *testing.T) {
	s := natsrelay.NewTestSource(64, 2)
	steps := []struct {
		relay string
		seq   uint64
		want  bool
	}{
		{"a", 1, true}, {"a", 2, true}, {"a", 5, true}, // gap: 3, 4
		{"a", 3, true},    // late
		{"a", 3, false},   // duplicate
		{"a", 5, false},   // duplicate
		{"a", 200, true},  // reset: past the window
		{"a", 100, false}, // stale: further back than the window
		{"b", 7, true}, {"b", 8, true},
		{"c", 1, true}, // evicts a, idle longest
		{"a", 201, true},
	}
	for i, st := range steps {
		if got := s.Sequence(st.relay, st.seq); got != st.want {
			t.Errorf("step %d: relay %s number %d: delivered %v, want %v", i, st.relay, st.seq, got, st.want)
		}
	}
	st := s.Stats()
	want := natsrelay.SourceStats{Gaps: 1, Missing: 1, Late: 1, Duplicates: 2, Stale: 1, Resets: 1, Evicted: 2}
	if st != want {
		t.Errorf("stats %+v, want %+v", st, want)
	}
}

// A gap clears the bits of its numbers, word by word, also across the end
// of the window's ring: a number whose bit a number one window before
// had set is delivered once, not taken for a duplicate.
func TestSourceSequenceGapClears(t *testing.T) {
	s := natsrelay.NewTestSource(256, 1)
	steps := []struct {
		seq  uint64
		want bool
	}{
		{1, true}, {150, true}, // gap: 2 to 149, across words
		{70, true}, {70, false}, {149, true}, {2, true}, {2, false},
		{300, true},               // gap: 151 to 299, across the ring's end (bits 151 to 255, 0 to 43)
		{258, true}, {258, false}, // bit 2, set by 2, cleared by the gap
		{300, false}, {151, true}, {255, true}, {256, true},
	}
	for i, st := range steps {
		if got := s.Sequence("a", st.seq); got != st.want {
			t.Errorf("step %d: number %d: delivered %v, want %v", i, st.seq, got, st.want)
		}
	}
	if st, want := s.Stats(), (natsrelay.SourceStats{Gaps: 2, Missing: 148 + 149 - 3 - 4, Late: 7, Duplicates: 4}); st != want {
		t.Errorf("stats %+v, want %+v", st, want)
	}
}
