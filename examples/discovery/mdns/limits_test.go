package mdns_test

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/sharecast/sharecast/examples/discovery/internal/mdnstest"
	"github.com/sharecast/sharecast/examples/discovery/mdns"
	"github.com/sharecast/sharecast/internal/benchcpu"
)

func update(t testing.TB, tb *mdns.Table, m *dns.Msg, now time.Time) []mdns.Change {
	t.Helper()
	cs := tb.Update(m, now)
	if err := tb.Check(); err != nil {
		t.Fatal(err)
	}
	return cs
}

func expire(t testing.TB, tb *mdns.Table, now time.Time) []mdns.Change {
	t.Helper()
	cs := tb.Expire(now)
	if err := tb.Check(); err != nil {
		t.Fatal(err)
	}
	return cs
}

// TestTablePTRFlood: 20,000 PTR records with TTL 2^32-1 leave the table
// at MaxServices, the rest evicted and counted, every TTL clamped, and a
// real service announced afterwards is added; it and the flood go within
// MaxTTL.
func TestTablePTRFlood(t *testing.T) {
	tb := newTable(t, &mdns.TableConfig{MaxServices: 500, MaxRecords: 1000})
	added := 0
	for i, m := range mdnstest.PTRFlood(0, 20000, 400, mdnstest.HugeTTL) {
		for _, c := range update(t, tb, m, t0.Add(time.Duration(i)*time.Millisecond)) {
			if c.Kind == mdns.Added {
				added++
			}
		}
	}
	st := tb.Stats()
	if st.Services != 500 || st.Records != 500 || st.Evicted != 19500 || st.Clamped != 20000 || added != 20000 {
		t.Errorf("after the flood: %+v, %d added; want 500 services, 19500 evicted, 20000 clamped", st, added)
	}
	cs := update(t, tb, response("real", "_http._tcp", "real.local.", 80, 120, "10.9.9.9"), t0.Add(time.Second))
	if got := kinds(cs); len(got) != 2 || got[0] != "removed f19500._flood._tcp.local." || got[1] != "added real._http._tcp.local." {
		t.Errorf("real service after the flood: %v", got)
	}
	if s := cs[1].Service; s.Port != 80 || len(s.Addrs) != 1 || len(s.TXT) != 2 {
		t.Errorf("real service %+v", s)
	}
	if next := tb.NextExpiry(); next.After(t0.Add(time.Second + mdns.DefaultMaxTTL)) {
		t.Errorf("next expiry %v: past the clamp", next)
	}
	expire(t, tb, t0.Add(time.Second+mdns.DefaultMaxTTL))
	if st := tb.Stats(); st.Records != 0 {
		t.Errorf("after MaxTTL: %+v", st)
	}
}

// TestTableOrphans: address, SRV and TXT records that no PTR reaches go
// after OrphanGrace, counted; those of an announcement whose PTR comes in
// a later packet, within the grace, stay; when a PTR goes, its records
// become orphans, and the host's addresses after them.
func TestTableOrphans(t *testing.T) {
	tb := newTable(t, &mdns.TableConfig{OrphanGrace: 5 * time.Second})
	for _, m := range mdnstest.AddrFlood(0, 3000, 300, "", mdnstest.HugeTTL) {
		update(t, tb, m, t0)
	}
	// An announcement in two packets: SRV, TXT and A first...
	full := response("late", "_http._tcp", "late.local.", 80, 4500, "10.1.1.1")
	first := full.Copy()
	first.Answer = first.Answer[1:]
	if cs := update(t, tb, first, t0.Add(time.Second)); len(cs) != 0 {
		t.Errorf("changes without a PTR: %v", kinds(cs))
	}
	// ...and the PTR four seconds later.
	second := full.Copy()
	second.Answer, second.Extra = second.Answer[:1], nil
	if cs := update(t, tb, second, t0.Add(5*time.Second)); len(cs) != 1 || len(cs[0].Service.Addrs) != 1 || cs[0].Service.Port != 80 {
		t.Errorf("PTR after its records: %v %+v", kinds(cs), cs)
	}
	if st := tb.Stats(); st.Records != 3004 || st.Services != 1 {
		t.Errorf("before the grace: %+v", st)
	}
	expire(t, tb, t0.Add(5*time.Second))
	if st := tb.Stats(); st.Records != 4 || st.Orphaned != 3000 {
		t.Errorf("after the grace: %+v, want the service's 4 records, 3000 orphans", st)
	}
	// The PTR says goodbye: a second later the service goes; its SRV and
	// TXT five seconds after that, and its address five seconds later.
	bye := second.Copy()
	bye.Answer[0].Header().Ttl = 0
	update(t, tb, bye, t0.Add(10*time.Second))
	if cs := expire(t, tb, t0.Add(11*time.Second)); len(cs) != 1 || cs[0].Kind != mdns.Removed {
		t.Errorf("goodbye: %v", kinds(cs))
	}
	expire(t, tb, t0.Add(16*time.Second))
	if st := tb.Stats(); st.Records != 1 || st.Orphaned != 3002 {
		t.Errorf("SRV and TXT after the grace: %+v", st)
	}
	expire(t, tb, t0.Add(21*time.Second))
	if st := tb.Stats(); st.Records != 0 || st.Orphaned != 3003 || !tb.NextExpiry().IsZero() {
		t.Errorf("address after the grace: %+v", st)
	}
}

// TestTableOrphansEvictedFirst: a full table evicts the records that no
// PTR reaches before a service's, however recently refreshed.
func TestTableOrphansEvictedFirst(t *testing.T) {
	tb := newTable(t, &mdns.TableConfig{MaxRecords: 100, MaxServices: 10})
	update(t, tb, response("real", "_http._tcp", "real.local.", 80, 120, "10.9.9.9"), t0)
	for _, m := range mdnstest.AddrFlood(0, 30000, 300, "", mdnstest.HugeTTL) {
		update(t, tb, m, t0.Add(time.Second))
	}
	ss := tb.Services()
	if st := tb.Stats(); st.Records != 100 || st.Evicted != 30000-96 || len(ss) != 1 || len(ss[0].Addrs) != 1 || len(ss[0].TXT) != 2 {
		t.Errorf("after 30,000 orphan addresses: %+v %+v", st, ss)
	}
}

// TestTableAddrsPerHost: one service with 30,000 addresses keeps
// MaxAddrsPerHost of them, the most recent, and counts the others.
func TestTableAddrsPerHost(t *testing.T) {
	tb := newTable(t, nil)
	update(t, tb, response("many", "_http._tcp", "many.local.", 80, 120, "10.9.9.9"), t0)
	most := 0
	for i, m := range mdnstest.AddrFlood(0, 30000, 400, "many.local.", 120) {
		for _, c := range update(t, tb, m, t0.Add(time.Duration(i+1)*time.Millisecond)) {
			most = max(most, len(c.Service.Addrs))
		}
	}
	ss := tb.Services()
	if st := tb.Stats(); st.AddrsEvicted != 30001-mdns.DefaultMaxAddrsPerHost || most != mdns.DefaultMaxAddrsPerHost ||
		len(ss) != 1 || len(ss[0].Addrs) != mdns.DefaultMaxAddrsPerHost || !ss[0].Addrs[len(ss[0].Addrs)-1].Is4() ||
		ss[0].Addrs[len(ss[0].Addrs)-1] != netip.AddrFrom4([4]byte{10, 0, 117, 47}) {
		t.Errorf("after 30,000 addresses: %+v, at most %d in a change, %v", st, most, ss)
	}
}

// TestTableTXTRefused: a TXT record above MaxTXTBytes is refused and
// counted; the service stands without it.
func TestTableTXTRefused(t *testing.T) {
	tb := newTable(t, &mdns.TableConfig{MaxTXTBytes: 100})
	m := response("big", "_http._tcp", "big.local.", 80, 120)
	m.Answer[2].(*dns.TXT).Txt = []string{strings.Repeat("x", 100)}
	cs := update(t, tb, m, t0)
	if st := tb.Stats(); len(cs) != 1 || cs[0].Service.TXT != nil || st.Refused != 1 || st.Records != 2 {
		t.Errorf("big TXT: %v %+v", kinds(cs), st)
	}
}

func TestTableConfig(t *testing.T) {
	for _, cfg := range []mdns.TableConfig{{MaxRecords: -1}, {MaxServices: 10, MaxRecords: 5}, {MaxTTL: time.Millisecond}, {OrphanGrace: -time.Second}} {
		if _, err := mdns.NewTable(&cfg); !errors.Is(err, mdns.ErrInvalidConfig) {
			t.Errorf("%+v: %v", cfg, err)
		}
	}
	tb := newTable(t, &mdns.TableConfig{MaxRecords: 10})
	if c := tb.Config(); c.MaxRecords != 10 || c.MaxServices != 10 || c.MaxAddrsPerHost != mdns.DefaultMaxAddrsPerHost ||
		c.MaxTTL != mdns.DefaultMaxTTL || c.OrphanGrace != mdns.DefaultOrphanGrace || c.MaxTXTBytes != mdns.DefaultMaxTXTBytes {
		t.Errorf("defaults: %+v", c)
	}
}

// FuzzTable feeds arbitrary packets, one after another, to a table with
// small limits: after each, the table's invariants and its limits hold
// (records, services, addresses per host, TTLs within MaxTTL); after
// MaxTTL it is empty.
func FuzzTable(f *testing.F) {
	seeds := []*dns.Msg{
		response("a", "_x._tcp", "h.local.", 1, 10, "10.0.0.1", "::1"),
		response(`b\.c\032d`, "_y._udp", "h.local.", 2, 0),
		mdnstest.PTRFlood(0, 40, 40, mdnstest.HugeTTL)[0],
		mdnstest.AddrFlood(0, 40, 40, "", mdnstest.HugeTTL)[0],
		mdnstest.AddrFlood(0, 40, 40, "h.local.", 10)[0],
	}
	for _, m := range seeds {
		b, err := m.Pack()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, uint8(3))
	}
	cfg := &mdns.TableConfig{MaxRecords: 24, MaxServices: 6, MaxAddrsPerHost: 3, MaxTTL: time.Minute, OrphanGrace: 2 * time.Second}
	f.Fuzz(func(t *testing.T, b []byte, rounds uint8) {
		var m dns.Msg
		if m.Unpack(b) != nil {
			return
		}
		tb := newTable(t, cfg)
		now := t0
		// The packet several times, a little later each time, with its
		// names changed, so that it adds records as well as refreshing.
		for i := range int(rounds%8) + 1 {
			for _, rr := range append(append(append([]dns.RR(nil), m.Answer...), m.Ns...), m.Extra...) {
				h := rr.Header()
				h.Name = fmt.Sprint(i, h.Name)
				if p, ok := rr.(*dns.PTR); ok {
					p.Ptr = fmt.Sprint(i, p.Ptr)
				}
			}
			update(t, tb, &m, now)
			st := tb.Stats()
			if st.Records > cfg.MaxRecords || st.Services > cfg.MaxServices {
				t.Fatalf("%+v over the caps", st)
			}
			ss := tb.Services()
			if len(ss) != st.Services {
				t.Fatalf("%d services listed, %d counted", len(ss), st.Services)
			}
			for _, s := range ss {
				if len(s.Addrs) > cfg.MaxAddrsPerHost || s.Expires.After(now.Add(cfg.MaxTTL)) {
					t.Fatalf("service beyond the limits: %+v", s)
				}
			}
			now = now.Add(time.Second)
			expire(t, tb, now)
		}
		expire(t, tb, now.Add(cfg.MaxTTL))
		if st := tb.Stats(); st.Records != 0 || len(tb.Services()) != 0 {
			t.Fatalf("left after MaxTTL: %+v", st)
		}
	})
}

// BenchmarkUpdate is the cost of an ordinary announcement (a refresh of
// a service's PTR, SRV, TXT and address) on an empty table and on a table
// full after each flood of finding 4: its cost must not follow the size
// of the table. (Before the limits, after 20,000 PTRs it was 240 ms.)
func BenchmarkUpdate(b *testing.B) {
	for _, bc := range []struct {
		name  string
		flood []*dns.Msg
	}{
		{"empty", nil},
		{"after-20000-PTR", mdnstest.PTRFlood(0, 20000, 400, mdnstest.HugeTTL)},
		{"after-300000-orphan-A", mdnstest.AddrFlood(0, 300000, 300, "", mdnstest.HugeTTL)},
		{"after-30000-addrs", append(mdnstest.PTRFlood(0, 1, 1, 120), mdnstest.AddrFlood(0, 30000, 400, "real.local.", 120)...)},
	} {
		b.Run(bc.name, func(b *testing.B) {
			tb := newTable(b, nil)
			for _, m := range bc.flood {
				tb.Update(m, t0)
			}
			m := response("real", "_http._tcp", "real.local.", 80, 120, "10.9.9.9")
			tb.Update(m, t0)
			b.ReportAllocs()
			b.ResetTimer()
			stop := benchcpu.Start(b)
			for i := 0; b.Loop(); i++ {
				tb.Update(m, t0.Add(time.Duration(i)*time.Millisecond))
			}
			stop()
		})
	}
}
