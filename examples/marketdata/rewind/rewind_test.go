package rewind_test

import (
	"encoding/binary"
	"net/netip"
	"testing"
	"time"

	"github.com/sharecast/sharecast/examples/marketdata/feedgen"
	"github.com/sharecast/sharecast/examples/marketdata/rewind"
	"github.com/sharecast/sharecast/internal/moldudp64"
)

var (
	sess  = moldudp64.MustParseSession("REWIND")
	asker = netip.MustParseAddrPort("127.0.0.1:40000")
	t0    = time.Date(2024, 1, 2, 9, 30, 0, 0, time.UTC)
)

// fill stores messages first to last of sess, but for the holes.
func fill(st *rewind.Store, first, last uint64, holes ...uint64) {
	for s := first; s <= last; s++ {
		skip := false
		for _, h := range holes {
			skip = skip || h == s
		}
		if !skip {
			st.Add(sess, s, feedgen.AppendMessage(nil, s, 8+int(s%40)))
		}
	}
}

func request(seq uint64, count uint16) []byte {
	return moldudp64.AppendRequest(nil, moldudp64.Request{Session: sess, Seq: seq, Count: count})
}

func TestAnswers(t *testing.T) {
	st := rewind.NewStore(&rewind.StoreConfig{MaxMessages: 100})
	fill(st, 1, 150, 120, 121) // 1-50 dropped for room; 120-121 holes
	s, err := rewind.New(&rewind.ServerConfig{Store: st, MaxPayload: 200})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name        string
		req         []byte
		ok          bool
		seq         uint64
		count       uint16
		first, last uint64 // messages carried, if any
	}{
		{"messages", request(60, 3), true, 60, 3, 60, 62},
		{"up to a hole", request(118, 10), true, 118, 2, 118, 119},
		{"fits the payload", request(51, 100), true, 51, 0, 51, 0},
		{"a hole", request(120, 1), true, 120, 0, 0, 0},
		{"dropped for room", request(50, 5), true, 50, 0, 0, 0},
		{"not yet", request(151, 5), true, 151, 0, 0, 0},
		{"count 0", request(70, 0), true, 151, 0, 0, 0},
		{"count 0xFFFF", request(70, 0xFFFF), true, 151, 0, 0, 0},
		{"foreign", moldudp64.AppendRequest(nil, moldudp64.Request{Session: moldudp64.MustParseSession("X"), Seq: 60, Count: 1}), false, 0, 0, 0, 0},
		{"malformed", request(60, 1)[:19], false, 0, 0, 0, 0},
	} {
		ans, ok := s.Handle(c.req, asker, t0)
		if ok != c.ok {
			t.Errorf("%s: answered %v", c.name, ok)
			continue
		}
		if !ok {
			continue
		}
		p, err := moldudp64.Decode(ans)
		if err != nil || p.Session != sess || p.Seq != c.seq || len(ans) > 200 {
			t.Errorf("%s: %+v, %v (%d bytes)", c.name, p, err, len(ans))
			continue
		}
		if c.first == 0 {
			if p.Count != c.count {
				t.Errorf("%s: count %d, want %d", c.name, p.Count, c.count)
			}
			continue
		}
		n := 0
		for seq, msg := range p.Messages() {
			if err := feedgen.CheckMessage(seq, msg); err != nil {
				t.Errorf("%s: %v", c.name, err)
			}
			n++
		}
		if c.last != 0 && (p.Count != c.count || p.NextSeq()-1 != c.last) {
			t.Errorf("%s: %d messages from %d, want %d-%d", c.name, p.Count, p.Seq, c.first, c.last)
		}
		if c.last == 0 && (n < 2 || len(ans)+50 <= 200) {
			t.Errorf("%s: %d messages in %d bytes: the payload is not filled", c.name, n, len(ans))
		}
	}
	st.End(sess, 151)
	ans, ok := s.Handle(request(151, 5), asker, t0)
	if p, err := moldudp64.Decode(ans); !ok || err != nil || !p.IsEndOfSession() || p.Seq != 151 {
		t.Errorf("past the end: %+v %v", p, err)
	}
	ss := s.Stats()
	if ss.Requests != 11 || ss.Malformed != 1 || ss.Foreign != 1 || ss.Messages != 3 || ss.NotHeld != 3 || ss.Heartbeats != 2 || ss.Ends != 1 || ss.Answers != 9 {
		t.Errorf("Stats = %+v", ss)
	}
	if sts := st.Stats(); sts.Held != 98 || sts.First != 51 || sts.Next != 151 || sts.Evicted != 50 || sts.Holes != 2 {
		t.Errorf("store %+v", sts)
	}
}

// TestStoreBytes: the bytes bound drops the oldest messages; a new session
// starts afresh.
func TestStoreBytes(t *testing.T) {
	st := rewind.NewStore(&rewind.StoreConfig{MaxMessages: 1000, MaxBytes: 64 * 10})
	fill(st, 1, 30)
	if s := st.Stats(); s.Held != 10 || s.First != 21 || s.Bytes > 640 {
		t.Errorf("store %+v", s)
	}
	st.Add(moldudp64.MustParseSession("NEXT"), 5, []byte("12345678"))
	if s := st.Stats(); s.Held != 1 || s.First != 5 || s.Next != 6 || s.Sessions != 2 {
		t.Errorf("store %+v", s)
	}
}

// TestRateLimit: a burst, then the rate, never more.
func TestRateLimit(t *testing.T) {
	st := rewind.NewStore(nil)
	fill(st, 1, 10)
	s, _ := rewind.New(&rewind.ServerConfig{Store: st, Rate: 100, Burst: 5})
	answered := 0
	for i := range 1000 {
		if _, ok := s.Handle(request(1, 1), asker, t0.Add(time.Duration(i)*time.Millisecond)); ok {
			answered++
		}
	}
	// 5 at once, then one every 10ms over 999ms: 99 more.
	if answered != 5+99 || s.Stats().Limited != uint64(1000-answered) {
		t.Errorf("answered %d, stats %+v", answered, s.Stats())
	}
}

// FuzzServer is issue 14's seventh criterion for the rewinder: whatever
// datagrams it is sent, at whatever times, the Server never panics, never
// answers with more messages than asked or more bytes than MaxPayload,
// never with a message other than the one asked for, and never faster
// than its rate (Burst plus Rate a second).
func FuzzServer(f *testing.F) {
	f.Add([]byte{0, 0, 0, 1, 0, 5})
	f.Add(append([]byte{10, 0}, request(5, 300)...))
	f.Add(append([]byte{0, 20}, request(^uint64(0)-1, 0xFFFF)...))
	f.Fuzz(func(t *testing.T, in []byte) {
		const rate, burst, maxPayload = 1000, 4, 300
		st := rewind.NewStore(&rewind.StoreConfig{MaxMessages: 64, MaxBytes: 4096})
		fill(st, 100, 200, 150, 151, 152)
		if len(in) > 0 && in[0]&1 != 0 {
			st.End(sess, 201)
		}
		s, err := rewind.New(&rewind.ServerConfig{Store: st, Rate: rate, Burst: burst, MaxPayload: maxPayload})
		if err != nil {
			t.Fatal(err)
		}
		now := t0
		answers := 0
		for len(in) >= 2 {
			// Each step: a time step (µs), a kind, and bytes.
			now = now.Add(time.Duration(in[0]) * 10 * time.Microsecond)
			kind := in[1]
			in = in[2:]
			var req []byte
			switch kind % 3 {
			case 0: // a well-formed request built from 10 bytes
				if len(in) < 10 {
					return
				}
				req = moldudp64.AppendRequest(nil, moldudp64.Request{Session: sess,
					Seq: 90 + binary.BigEndian.Uint64(in[:8])%(1<<(kind%64)), Count: binary.BigEndian.Uint16(in[8:10])})
				in = in[10:]
			case 1: // raw bytes
				n := min(len(in), int(kind>>2))
				req, in = in[:n], in[n:]
			case 2: // a foreign session
				req = moldudp64.AppendRequest(nil, moldudp64.Request{Seq: 100, Count: 3})
			}
			ans, ok := s.Handle(req, asker, now)
			if !ok {
				continue
			}
			answers++
			if elapsed := now.Sub(t0).Seconds(); float64(answers) > burst+elapsed*rate+1e-9 {
				t.Fatalf("%d answers in %v: faster than %d a second (burst %d)", answers, now.Sub(t0), rate, burst)
			}
			r, err := moldudp64.DecodeRequest(req)
			if err != nil {
				t.Fatalf("answered a malformed request: %v", err)
			}
			p, err := moldudp64.Decode(ans)
			if err != nil || p.Session != sess || len(ans) > maxPayload {
				t.Fatalf("answer %+v, %v, %d bytes", p, err, len(ans))
			}
			if p.IsHeartbeat() || p.IsEndOfSession() {
				continue
			}
			if p.Seq != r.Seq || uint64(p.Count) > r.End()-r.Seq || p.Count == 0 {
				t.Fatalf("request %+v answered with %d messages from %d", r, p.Count, p.Seq)
			}
			for seq, msg := range p.Messages() {
				if err := feedgen.CheckMessage(seq, msg); err != nil {
					t.Fatal(err)
				}
			}
		}
		ss := s.Stats()
		if ss.Answers != uint64(answers) || ss.Requests != ss.Answers+ss.Malformed+ss.Limited+ss.Foreign {
			t.Fatalf("stats %+v, %d answers", ss, answers)
		}
	})
}

// TestStoreTooLarge: a message larger than the whole store leaves a hole,
// counted, and is never answered.
func TestStoreTooLarge(t *testing.T) {
	st := rewind.NewStore(&rewind.StoreConfig{MaxBytes: 128})
	fill(st, 1, 2)
	st.Add(sess, 3, make([]byte, 500))
	fill(st, 4, 4)
	s := st.Stats()
	if s.Stale != 1 || s.Next != 5 || s.Holes != 1 || s.Bytes > 128 {
		t.Errorf("store %+v", s)
	}
	if _, kind := st.Answer(nil, moldudp64.Request{Session: sess, Seq: 3, Count: 1}, 1400); kind != rewind.AnswerNotHeld {
		t.Errorf("answer kind %d for the message too large", kind)
	}
}
