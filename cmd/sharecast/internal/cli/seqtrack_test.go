package cli_test

import (
	"testing"

	"github.com/sharecast/sharecast/cmd/sharecast/internal/cli"
	"github.com/sharecast/sharecast/internal/moldudp64"
	"github.com/sharecast/sharecast/internal/wire"
)

type obs struct{ first, n uint64 }

func track(t *testing.T, steps []obs) *cli.SeqTracker {
	t.Helper()
	var tr cli.SeqTracker
	for _, s := range steps {
		tr.Observe(s.first, s.n)
	}
	return &tr
}

func seq(from, to uint64) []obs {
	var out []obs
	for i := from; i < to; i++ {
		out = append(out, obs{i, 1})
	}
	return out
}

func TestSeqTrackerDatagrams(t *testing.T) {
	cases := []struct {
		name  string
		steps []obs
		want  cli.SeqCounters
		next  uint64
	}{
		{"in order", seq(0, 100), cli.SeqCounters{Numbers: 100}, 100},
		{"starts mid-stream", seq(1000, 1010), cli.SeqCounters{Numbers: 10}, 1010},
		{"gap", append(seq(0, 10), seq(15, 20)...), cli.SeqCounters{Numbers: 15, Lost: 5, Gaps: 1}, 20},
		{"gap then late fill", append(append(seq(0, 10), seq(15, 20)...), obs{12, 1}, obs{11, 1}),
			cli.SeqCounters{Numbers: 17, Lost: 3, Gaps: 1, Reordered: 2}, 20},
		{"duplicates", append(seq(0, 10), obs{9, 1}, obs{3, 1}, obs{3, 1}), cli.SeqCounters{Numbers: 10, Duplicates: 3}, 10},
		{"swap", []obs{{0, 1}, {2, 1}, {1, 1}, {3, 1}}, cli.SeqCounters{Numbers: 4, Gaps: 1, Reordered: 1}, 4},
		{"restart far behind", append(seq(100000, 100010), seq(5, 8)...), cli.SeqCounters{Numbers: 13, Resets: 1}, 8},
		{"gap wider than the window, then a late one in it", append(append(seq(0, 2), obs{200000, 1}), obs{199990, 1}),
			cli.SeqCounters{Numbers: 4, Lost: 199997, Gaps: 1, Reordered: 1}, 200001},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tr := track(t, c.steps)
			if got := tr.Counters(); got != c.want || tr.Next() != c.next {
				t.Fatalf("counters %+v next %d, want %+v next %d", got, tr.Next(), c.want, c.next)
			}
		})
	}
}

// MoldUDP64 packets carry a count of messages; heartbeats carry the next
// number and no message.
func TestSeqTrackerMoldUDP64(t *testing.T) {
	steps := []obs{
		{1, 3}, {4, 2}, {6, 0}, {6, 1}, // 1-6, a heartbeat between
		{10, 2},         // 7-9 missing
		{7, 3},          // and filled, late
		{5, 0},          // a stale heartbeat: nothing
		{12, 0},         // heartbeat at the next number: nothing missing
		{15, 0},         // heartbeat past 12-14: a gap at the tail of a burst
		{10, 4},         // 10, 11 again and 12, 13 new: late (reordered), 14 still lost
		{8, 2},          // all seen: duplicate
		{15, 1}, {1, 1}, // in order, then an old duplicate
	}
	tr := track(t, steps)
	want := cli.SeqCounters{Numbers: 14, Lost: 1, Gaps: 2, Reordered: 2, Duplicates: 2}
	if got := tr.Counters(); got != want || tr.Next() != 16 {
		t.Fatalf("counters %+v next %d, want %+v next 16", got, tr.Next(), want)
	}
}

func TestClassify(t *testing.T) {
	sc := make([]byte, 64)
	wire.Header{Stream: 0x0102030405060708, Seq: 77, SendTime: 5}.Put(sc)
	sess := moldudp64.MustParseSession("SESSION1")
	mold, err := moldudp64.AppendPacket(nil, sess, 1000, []byte("a"), []byte("bc"), []byte("d"))
	if err != nil {
		t.Fatal(err)
	}
	hb := moldudp64.AppendHeartbeat(nil, sess, 1003)
	cases := []struct {
		name, mode string
		p          []byte
		kind       string
		first, n   uint64
	}{
		{"sharecast", "auto", sc, "sharecast", 77, 1},
		{"mold", "auto", mold, "moldudp64", 1000, 3},
		{"heartbeat", "auto", hb, "moldudp64", 1003, 0},
		{"text", "auto", []byte("hello, world"), "none", 0, 0},
		{"sharecast as mold only", "moldudp64", sc, "none", 0, 0},
		{"mold as sharecast only", "sharecast", mold, "none", 0, 0},
	}
	for _, c := range cases {
		si := cli.Classify(c.p, c.mode)
		first, n := si.Range()
		if si.Kind() != c.kind || first != c.first || n != c.n {
			t.Errorf("%s: %s %d+%d, want %s %d+%d", c.name, si.Kind(), first, n, c.kind, c.first, c.n)
		}
	}
}
