package cli_test

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sharecast/sharecast/cmd/sharecast/internal/cli"
	"github.com/sharecast/sharecast/internal/moldudp64"
	"github.com/sharecast/sharecast/internal/testbed"
	"github.com/sharecast/sharecast/internal/wire"
)

// stat lists every group asked for, also one that received nothing, with
// how long it has been silent; --max-silence ends it with status 1 on a
// dead feed; its summary says what --count left uncounted; jitter is
// reported; --format csv writes a header and a row a group.
func TestStatSilentGroupsAndCounts(t *testing.T) {
	testbed.Require(t)
	port := freePort(t)
	live, dead := groupAt("239.10.0.90", port), groupAt("239.10.0.91", port)

	js := start(t, "stat", live, dead, "--format", "json", "--count", "7", "--interval", "100ms")
	cs := start(t, "stat", live, dead, "--format", "csv", "--count", "20", "--interval", "100ms")
	js.listening(t, 1)
	cs.listening(t, 1)
	if code, _, e := run(t, 30*time.Second, "send", live, "--count", "20", "--rate", "2000"); code != 0 {
		t.Fatalf("send: %s", e)
	}
	for _, p := range []*proc{js, cs} {
		if code := p.wait(t, 30*time.Second); code != 0 {
			t.Fatalf("%v: exit %d", p.args, code)
		}
	}
	ls := lines(js.stdout.String())
	var last struct {
		Final  bool
		Groups []struct {
			Group     string
			Datagrams uint64
			Numbers   uint64
			JitterUS  float64 `json:"jitter_us"`
			SilentS   float64 `json:"silent_s"`
		}
	}
	if err := json.Unmarshal([]byte(ls[len(ls)-1]), &last); err != nil || !last.Final || len(last.Groups) != 2 {
		t.Fatalf("final line %q: %v", ls[len(ls)-1], err)
	}
	for _, g := range last.Groups {
		switch g.Group {
		case live:
			if g.Datagrams != 7 || g.Numbers != 7 {
				t.Errorf("live group: %+v, want 7 datagrams counted", g)
			}
		case dead:
			if g.Datagrams != 0 || g.SilentS <= 0 {
				t.Errorf("silent group: %+v, want 0 datagrams and a silence", g)
			}
		default:
			t.Errorf("group %q not asked for", g.Group)
		}
	}
	// The summary reconciles the 7 counted with what the handler received:
	// received = 7 + those it says were not counted.
	e := js.stderr.String()
	var received, past int
	if m := handlerRE.FindStringSubmatch(e); m != nil {
		fmt.Sscan(m[1], &received)
	}
	if _, after, ok := strings.Cut(e, "stat counted the first 7 datagrams (--count 7); "); ok {
		fmt.Sscan(after, &past)
	}
	if received == 0 || received != 7+past {
		t.Errorf("the handler received %d, stat counted 7 and says %d were not counted:\n%s", received, past, e)
	}

	rows, err := csv.NewReader(strings.NewReader(cs.stdout.String())).ReadAll()
	if err != nil || len(rows) < 3 || rows[0][0] != "time" || rows[0][3] != "group" {
		t.Fatalf("csv: %v\n%s", err, cs.stdout.String())
	}
	final := map[string][]string{}
	for _, r := range rows[1:] {
		if len(r) != len(rows[0]) {
			t.Fatalf("csv row of %d fields, header has %d: %q", len(r), len(rows[0]), r)
		}
		if r[2] == "true" {
			final[r[3]] = r
		}
	}
	if r := final[live]; r == nil || r[5] != "20" || r[19] == "0" {
		t.Errorf("csv final row of %s: %q, want 20 datagrams and a jitter", live, r)
	}
	if r := final[dead]; r == nil || r[5] != "0" {
		t.Errorf("csv final row of %s: %q, want 0 datagrams", dead, r)
	}

	// A feed that stays dead ends stat with status 1, naming the group.
	code, _, e2 := run(t, 30*time.Second, "stat", dead, "--max-silence", "300ms", "--format", "json")
	if code != 1 || !strings.Contains(e2, fmt.Sprintf("group %s is silent", dead)) {
		t.Errorf("stat --max-silence on a dead group: exit %d, want 1 naming it:\n%s", code, e2)
	}
	// listen takes it too.
	code, _, e2 = run(t, 30*time.Second, "listen", dead, "--max-silence", "300ms")
	if code != 1 || !strings.Contains(e2, "is silent") {
		t.Errorf("listen --max-silence on a dead group: exit %d, want 1:\n%s", code, e2)
	}
}

// Issue 17, finding 1, over real sockets: 5,000 datagrams, each of a new
// stream id, then a real stream that skips 3 numbers. stat keeps at most
// cli.DefaultMaxStreams streams (the idle longest evicted, counted), its JSON line lists
// at most 100 and says how many it left out, and the group's figures are
// the real stream's, not the flood's.
func TestStatStreamFlood(t *testing.T) {
	testbed.Require(t)
	const flood, real = 5_000, 1_000
	port := freePort(t)
	g := netip.AddrPortFrom(netip.MustParseAddr("239.10.0.95"), port)
	st := start(t, "stat", g.String(), "--format", "json", "--count", strconv.Itoa(flood+real-3), "--interval", "1h")
	st.listening(t, 1)
	send := streamSender(t, g)
	for i := range flood {
		send(i, 1_000_000+uint64(i), 1<<62) // a new stream each, at a huge number
	}
	for i := range real {
		if i >= 500 && i < 503 {
			continue // 3 lost
		}
		send(i, 7, uint64(i))
	}
	if code := st.wait(t, 60*time.Second); code != 0 {
		t.Fatalf("stat: exit %d", code)
	}
	ls := lines(st.stdout.String())
	var last struct {
		Groups []struct {
			Datagrams      uint64
			Lost, Resets   uint64
			StreamsEvicted uint64 `json:"streams_evicted"`
		}
		Streams        []json.RawMessage
		StreamsOmitted int `json:"streams_omitted"`
	}
	if err := json.Unmarshal([]byte(ls[len(ls)-1]), &last); err != nil || len(last.Groups) != 1 {
		t.Fatalf("final line: %v\n%s", err, ls[len(ls)-1])
	}
	gl := last.Groups[0]
	if gl.Datagrams != flood+real-3 || gl.Lost != 3 || gl.StreamsEvicted != flood+1-cli.DefaultMaxStreams {
		t.Errorf("group %+v: want %d datagrams, 3 lost (the real stream's), %d streams evicted", gl, flood+real-3, flood+1-cli.DefaultMaxStreams)
	}
	if len(last.Streams) > 100 || len(last.Streams)+last.StreamsOmitted != cli.DefaultMaxStreams {
		t.Errorf("%d stream lines and %d omitted, want at most 100 of the %d tracked", len(last.Streams), last.StreamsOmitted, cli.DefaultMaxStreams)
	}
	if len(ls[len(ls)-1]) > 64<<10 {
		t.Errorf("a JSON line of %d bytes", len(ls[len(ls)-1]))
	}
}

// Issue 17, finding 1, between groups, over real sockets: stat caps the
// streams of each group apart (the default --max-streams), so that a flood
// of new stream ids on group A evicts only A's streams. A real stream on
// group B sends 500 numbers, A gets 5,000 new streams (more than the cap,
// and more than the 4,096 that one tracker shared by all groups held), then
// B sends the rest but 3: B's stream is never evicted, keeps its row, and
// its 3 lost numbers (in a gap that spans the flood) are counted; A's
// evictions are counted in A's line, none in B's. A second stat, with
// --max-streams 2000 and --format csv, counts A's evictions past its cap
// in its rows.
func TestStatStreamFloodPerGroup(t *testing.T) {
	testbed.Require(t)
	const flood, real, maxStreams = 5_000, 1_000, cli.DefaultMaxStreams
	port := freePort(t)
	a := netip.AddrPortFrom(netip.MustParseAddr("239.10.0.97"), port)
	b := netip.AddrPortFrom(netip.MustParseAddr("239.10.0.98"), port)
	st := start(t, "stat", a.String(), b.String(), "--format", "json", "--count", strconv.Itoa(flood+real-3), "--interval", "1h")
	cs := start(t, "stat", a.String(), b.String(), "--format", "csv", "--max-streams", "2000", "--count", strconv.Itoa(flood+real-3), "--interval", "1h")
	st.listening(t, 1)
	cs.listening(t, 1)
	sendA, sendB := streamSender(t, a), streamSender(t, b)
	for i := range real / 2 {
		sendB(i, 7, uint64(i))
	}
	for i := range flood {
		sendA(i, 1_000_000+uint64(i), 0) // a new stream each
	}
	for i := real / 2; i < real; i++ {
		if i < real/2+3 {
			continue // 3 lost, across the flood
		}
		sendB(i, 7, uint64(i))
	}
	for _, p := range []*proc{st, cs} {
		if code := p.wait(t, 60*time.Second); code != 0 {
			t.Fatalf("%v: exit %d\n%s", p.args, code, p.stderr.String())
		}
	}
	rs, err := csv.NewReader(strings.NewReader(cs.stdout.String())).ReadAll()
	if err != nil || len(rs) < 3 || rs[0][len(rs[0])-1] != "streams_evicted" {
		t.Fatalf("csv: %v\n%s", err, cs.stdout.String())
	}
	final := map[string][]string{}
	for _, r := range rs[1:] {
		if r[2] == "true" {
			final[r[3]] = r
		}
	}
	for g, want := range map[string][2]string{a.String(): {"2000", strconv.Itoa(flood - 2000)}, b.String(): {"1", "0"}} {
		if r := final[g]; r == nil || r[4] != want[0] || r[len(r)-1] != want[1] {
			t.Errorf("csv final row of %s: %q, want %s streams and %s evicted", g, r, want[0], want[1])
		}
	}
	ls := lines(st.stdout.String())
	type counts struct {
		Group, Source, ID                    string
		Streams                              int
		Datagrams, Next, Numbers, Lost, Gaps uint64
		Duplicates, Reordered, Resets        uint64
		StreamsEvicted                       uint64 `json:"streams_evicted"`
	}
	var last struct {
		Groups, Streams []counts
	}
	if err := json.Unmarshal([]byte(ls[len(ls)-1]), &last); err != nil || len(last.Groups) != 2 {
		t.Fatalf("final line: %v\n%s", err, ls[len(ls)-1])
	}
	for _, g := range last.Groups {
		var want counts
		switch g.Group {
		case a.String():
			want = counts{Group: g.Group, Streams: maxStreams, Datagrams: flood, Numbers: flood, StreamsEvicted: flood - maxStreams}
		case b.String():
			want = counts{Group: g.Group, Streams: 1, Datagrams: real - 3, Numbers: real - 3, Lost: 3, Gaps: 1}
		}
		if g != want {
			t.Errorf("group %+v, want %+v", g, want)
		}
	}
	var rows []counts
	for _, s := range last.Streams {
		if s.Group == b.String() {
			rows = append(rows, s)
		}
	}
	want := counts{Group: b.String(), Source: "127.0.0.1", ID: fmt.Sprintf("%016x", 7), Datagrams: real - 3, Next: real, Numbers: real - 3, Lost: 3, Gaps: 1}
	if len(rows) == 1 && strings.HasPrefix(rows[0].Source, "127.0.0.1:") {
		want.Source = rows[0].Source // the sender's port, the kernel's choice
	}
	if len(rows) != 1 || rows[0] != want {
		t.Errorf("group %s's stream rows %+v, want one: %+v", b, rows, want)
	}
}

// streamSender returns a function that sends, from one socket to g, the
// datagram of a sharecast stream with a given number, waiting every 64
// datagrams (the i-th) for the receiver to have read those before.
func streamSender(t *testing.T, g netip.AddrPort) func(i int, stream, seq uint64) {
	snd := testbed.NewSender(t, g, nil, netip.MustParseAddr("127.0.0.1"))
	return func(i int, stream, seq uint64) {
		t.Helper()
		if i%64 == 0 {
			if err := testbed.Pace(g.Port(), 128<<10, 10*time.Second); err != nil {
				t.Fatal(err)
			}
		}
		p := make([]byte, 40)
		wire.Header{Stream: stream, Seq: seq, SendTime: time.Now().UnixNano()}.Put(p)
		wire.Fill(p[wire.HeaderLen:], seq)
		if err := snd.Send(p); err != nil {
			t.Fatal(err)
		}
	}
}

// Issue 17, finding 2, over real sockets: beside a real stream that skips
// 3 numbers, an attacker's own stream (another stream id, from the same
// socket) jumps to 2^64-1, 2^63+4, 2^40 and then by 2^20 at a time, and a
// MoldUDP64 packet that fails validation claims a number near 2^64. The
// jumps past stat's window are resets of the attacker's stream, counted
// as such; no number of it counts as lost, in its stream or in the group;
// the invalid packet is unsequenced, not tracked; the group's lost is the
// real stream's 3.
func TestStatForgedJump(t *testing.T) {
	testbed.Require(t)
	const real, jumps = 1_000, 50
	port := freePort(t)
	g := netip.AddrPortFrom(netip.MustParseAddr("239.10.0.96"), port)
	forged := []uint64{5, 1<<64 - 1, 1<<63 + 4, 1 << 40}
	for k := range uint64(jumps) {
		forged = append(forged, (k+1)<<20)
	}
	// 5 starts the stream; 2^64-1 is 7 behind the next (6), a late number
	// within the window; each of the others is past it: a reset.
	const wantResets = 2 + jumps
	total := real - 3 + len(forged) + 1
	st := start(t, "stat", g.String(), "--format", "json", "--count", strconv.Itoa(total), "--interval", "1h")
	st.listening(t, 1)
	send := streamSender(t, g)
	bad, err := moldudp64.AppendPacket(nil, moldudp64.MustParseSession("FORGED"), 1<<64-2, []byte("x"))
	if err != nil {
		t.Fatal(err)
	}
	bad = bad[:len(bad)-1] // the message's length says 1 byte; none follows
	if _, ok := moldudp64.TryDecode(bad); ok {
		t.Fatal("the forged MoldUDP64 packet decodes")
	}
	badSnd := testbed.NewSender(t, g, nil, netip.MustParseAddr("127.0.0.1"))
	for i := range real {
		if i >= 500 && i < 503 {
			continue // 3 lost
		}
		send(i, 7, uint64(i))
		if i%16 == 0 && len(forged) > 0 {
			send(i+1, 666, forged[0])
			forged = forged[1:]
		}
		if i == 100 {
			if err := badSnd.Send(bad); err != nil {
				t.Fatal(err)
			}
		}
	}
	if len(forged) != 0 {
		t.Fatalf("%d forged numbers not sent", len(forged))
	}
	if code := st.wait(t, 60*time.Second); code != 0 {
		t.Fatalf("stat: exit %d", code)
	}
	ls := lines(st.stdout.String())
	type counts struct {
		ID                              string
		Datagrams, Lost, Gaps, Resets   uint64
		Unsequenced, Numbers, Reordered uint64
	}
	var last struct {
		Groups  []counts
		Streams []counts
	}
	if err := json.Unmarshal([]byte(ls[len(ls)-1]), &last); err != nil || len(last.Groups) != 1 || len(last.Streams) != 2 {
		t.Fatalf("final line: %v\n%s", err, ls[len(ls)-1])
	}
	gl := last.Groups[0]
	if gl.Datagrams != uint64(total) || gl.Lost != 3 || gl.Gaps != 1 || gl.Resets != wantResets || gl.Unsequenced != 1 {
		t.Errorf("group %+v: want %d datagrams, 3 lost in 1 gap (the real stream's), %d resets, 1 unsequenced", gl, total, wantResets)
	}
	for _, s := range last.Streams {
		var want counts
		switch s.ID {
		case fmt.Sprintf("%016x", 7):
			want = counts{ID: s.ID, Datagrams: real - 3, Numbers: real - 3, Lost: 3, Gaps: 1}
		case fmt.Sprintf("%016x", 666):
			want = counts{ID: s.ID, Datagrams: 4 + jumps, Numbers: 4 + jumps, Reordered: 1, Resets: wantResets}
		}
		if s != want {
			t.Errorf("stream %+v, want %+v", s, want)
		}
	}
}
