package dispatch_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/rs/zerolog"
	"github.com/sharecast/sharecast/dispatch"
	"github.com/sharecast/sharecast/dispatch/dispatchtest"
)

func observe(tr *dispatch.SequenceTracker, src uint16, seqs ...uint64) {
	for _, n := range seqs {
		d := dispatch.Datagram{Payload: seqPayload(n), Source: netipAddrPort(10, 0, 0, 1, src), Group: group1}
		tr.Observe(&d)
	}
}

func TestSequenceTracker(t *testing.T) {
	for _, c := range []struct {
		name string
		bits int
		seqs []uint64
		want dispatch.SequenceStats
	}{
		{"in order", 0, []uint64{5, 6, 7, 8}, dispatch.SequenceStats{Datagrams: 4, Numbers: 4}},
		{"gap", 0, []uint64{1, 2, 5, 6, 10}, dispatch.SequenceStats{Datagrams: 5, Numbers: 5, Gaps: 2, Missing: 5}},
		{"gap filled late", 0, []uint64{1, 4, 2, 3, 5}, dispatch.SequenceStats{Datagrams: 5, Numbers: 5, Gaps: 1, Missing: 0, Late: 2}},
		{"duplicates", 0, []uint64{1, 2, 2, 3, 1}, dispatch.SequenceStats{Datagrams: 5, Numbers: 3, Duplicates: 2, DuplicateNumbers: 2}},
		{"late duplicate", 0, []uint64{1, 3, 2, 2}, dispatch.SequenceStats{Datagrams: 4, Numbers: 3, Gaps: 1, Late: 1, Duplicates: 1, DuplicateNumbers: 1}},
		{"reset", 0, []uint64{100_000, 100_001, 3, 4}, dispatch.SequenceStats{Datagrams: 4, Numbers: 4, Resets: 1}},
		{"wrap 16 bits", 16, []uint64{65534, 65535, 0, 1}, dispatch.SequenceStats{Datagrams: 4, Numbers: 4}},
		{"gap over wrap", 16, []uint64{65534, 1}, dispatch.SequenceStats{Datagrams: 2, Numbers: 2, Gaps: 1, Missing: 2}},
		{"late over wrap", 16, []uint64{65535, 1, 0}, dispatch.SequenceStats{Datagrams: 3, Numbers: 3, Gaps: 1, Late: 1}},
		{"jump past the window: a reset, not loss; and back", 0, []uint64{1, 3000, 2}, dispatch.SequenceStats{Datagrams: 3, Numbers: 3, Resets: 2}},
		{"gap as wide as the window", 0, []uint64{1, 1026, 3}, dispatch.SequenceStats{Datagrams: 3, Numbers: 3, Gaps: 1, Missing: 1023, Late: 1}},
		{"jump one past the window", 0, []uint64{1, 1027, 2}, dispatch.SequenceStats{Datagrams: 3, Numbers: 3, Resets: 2}},
	} {
		t.Run(c.name, func(t *testing.T) {
			tr, err := dispatch.NewSequenceTracker(&dispatch.SequenceConfig{Extract: extractSeq, Bits: c.bits})
			if err != nil {
				t.Fatal(err)
			}
			observe(tr, 4000, c.seqs...)
			if got := tr.Stats(); got != c.want {
				t.Errorf("%v: got %+v, want %+v", c.seqs, got, c.want)
			}
		})
	}
}

func TestSequenceTrackerFlows(t *testing.T) {
	var logs bytes.Buffer
	tr, err := dispatch.NewSequenceTracker(&dispatch.SequenceConfig{Extract: extractSeq, MaxFlows: 2, Logger: zerolog.New(&logs)})
	if err != nil {
		t.Fatal(err)
	}
	type flow struct {
		port uint16
		dgs  uint64
		next uint64
		gaps uint64
	}
	check := func(when string, want []flow, total dispatch.SequenceStats) {
		t.Helper()
		var got []flow
		for _, f := range tr.Flows() {
			got = append(got, flow{f.Source.Port(), f.Datagrams, f.Next, f.Gaps})
		}
		if !slices.Equal(got, want) {
			t.Errorf("%s: flows %+v, want %+v", when, got, want)
		}
		if st := tr.Stats(); st != total {
			t.Errorf("%s: totals %+v, want %+v", when, st, total)
		}
	}
	observe(tr, 1, 1, 2, 3)
	observe(tr, 2, 1, 3)
	observe(tr, 1, 4)
	tr.Observe(&dispatch.Datagram{Payload: []byte("x")})
	check("two flows", []flow{{1, 4, 5, 0}, {2, 2, 4, 1}},
		dispatch.SequenceStats{Datagrams: 6, NoSequence: 1, Numbers: 6, Gaps: 1, Missing: 1})
	observe(tr, 3, 1, 2) // a third flow evicts flow 2, idle longest; its figures stay in the totals
	check("third flow", []flow{{1, 4, 5, 0}, {3, 2, 3, 0}},
		dispatch.SequenceStats{Datagrams: 8, NoSequence: 1, Evicted: 1, Numbers: 8, Gaps: 1, Missing: 1})
	observe(tr, 3, 3)
	observe(tr, 2, 7) // back: tracked anew, in flow 1's place
	check("flow 2 back", []flow{{2, 1, 8, 0}, {3, 3, 4, 0}},
		dispatch.SequenceStats{Datagrams: 10, NoSequence: 1, Evicted: 2, Numbers: 10, Gaps: 1, Missing: 1})
	if !strings.Contains(logs.String(), `"message":"sequence gap"`) {
		t.Errorf("no gap logged: %s", logs.String())
	}
	if _, err := dispatch.NewSequenceTracker(&dispatch.SequenceConfig{}); !errors.Is(err, dispatch.ErrInvalidConfig) {
		t.Errorf("no Extract: %v", err)
	}
	if _, err := dispatch.NewSequenceTracker(&dispatch.SequenceConfig{Extract: extractSeq, Bits: 8, Window: 1000}); !errors.Is(err, dispatch.ErrInvalidConfig) {
		t.Errorf("window larger than half the range: %v", err)
	}
}

// The tracker as middleware, behind a handler that drops datagrams: it
// sees what the handler sees.
func TestSequenceMiddleware(t *testing.T) {
	checkLeaks(t)
	tr, err := dispatch.NewSequenceTracker(&dispatch.SequenceConfig{Extract: extractSeq})
	if err != nil {
		t.Fatal(err)
	}
	var rec dispatchtest.Recorder
	var m dispatch.Mux
	must(t, m.Handle(dispatch.Pattern{}, dispatch.Chain(&rec, tr.Middleware), nil))
	srv := newServer(t, &m, nil)
	src := newSource()
	must(t, srv.AddSource("mem", src))
	done := serve(t, srv, testContext(t))
	for _, n := range []uint64{0, 1, 2, 5, 3, 3} {
		src.Send(seqPayload(n), src1, group1)
	}
	src.Close()
	if err := wait(t, done, "Serve"); err != nil {
		t.Fatal(err)
	}
	want := dispatch.SequenceStats{Datagrams: 6, Numbers: 5, Gaps: 1, Missing: 1, Late: 1, Duplicates: 1, DuplicateNumbers: 1}
	if got := tr.Stats(); got != want || rec.Len() != 6 {
		t.Errorf("got %+v (handler saw %d), want %+v", got, rec.Len(), want)
	}
}

func TestLoggingMiddleware(t *testing.T) {
	var logs bytes.Buffer
	var calls int
	h := dispatch.Chain(dispatch.HandlerFunc(func(context.Context, *dispatch.Datagram) { calls++ }),
		dispatch.Logging(&dispatch.LogConfig{Logger: zerolog.New(&logs), Level: zerolog.InfoLevel}))
	for i := range 50 {
		d := dispatch.Datagram{Payload: binary.BigEndian.AppendUint32(nil, uint32(i)), Source: src1, Group: group1, Port: 5000, Socket: "s"}
		h.ServeDatagram(context.Background(), &d)
	}
	if calls != 50 {
		t.Errorf("handler called %d times, want 50", calls)
	}
	lines := strings.Count(logs.String(), "\n")
	if lines != 10 || !strings.Contains(logs.String(), `{"level":"info","socket":"s","src":"10.0.0.1:4000","group":"239.1.2.3","port":5000,"len":4,"message":"datagram"}`) {
		t.Errorf("%d lines logged, want the sampler's 10:\n%s", lines, logs.String())
	}
	// The zero Logger logs nothing and costs nothing.
	quiet := dispatch.Chain(dispatch.HandlerFunc(func(context.Context, *dispatch.Datagram) {}), dispatch.Logging(nil))
	d := dispatch.Datagram{Payload: []byte("x")}
	if n := testing.AllocsPerRun(100, func() { quiet.ServeDatagram(context.Background(), &d) }); n != 0 {
		t.Errorf("Logging with the zero Logger: %v allocs per datagram", n)
	}
}

func TestWithLogger(t *testing.T) {
	var logs bytes.Buffer
	h := dispatch.Chain(dispatch.HandlerFunc(func(ctx context.Context, d *dispatch.Datagram) {
		zerolog.Ctx(ctx).Info().Int("len", len(d.Payload)).Msg("handled")
	}), dispatch.WithLogger(zerolog.New(&logs)))
	d := dispatch.Datagram{Payload: []byte("abc"), Source: src1, Group: group1, Port: 5000, Socket: "s"}
	h.ServeDatagram(context.Background(), &d)
	want := `{"level":"info","socket":"s","src":"10.0.0.1:4000","group":"239.1.2.3:5000","len":3,"message":"handled"}` + "\n"
	if logs.String() != want {
		t.Errorf("logged %s, want %s", logs.String(), want)
	}
}
