package tools

import (
	"net/netip"
	"testing"
	"time"

	"github.com/sharecast/sharecast/dispatch"
	"github.com/sharecast/sharecast/internal/wire"
)

// Whatever datagrams arrive, from however many sources, the stats tool's
// state stays bounded (its tracker's flows at its cap) and its figures add
// up: every datagram is a number counted, or one without a header.
func FuzzStatsHandle(f *testing.F) {
	p := make([]byte, 64)
	wire.Header{Stream: 1, Seq: ^uint64(0), SendTime: 1}.Put(p)
	wire.Fill(p[wire.HeaderLen:], ^uint64(0))
	f.Add(p)
	f.Add([]byte("no header"))
	f.Fuzz(func(t *testing.T, in []byte) {
		s := &statsTool{}
		if err := s.open(&common{}); err != nil {
			t.Fatal(err)
		}
		n := 0
		for i := 0; len(in) > 0 && i < 8192; i++ {
			k := min(len(in), wire.HeaderLen+int(in[0])%64)
			s.handle(&dispatch.Datagram{Payload: in[:k], Time: time.Unix(2, 0), Group: netip.MustParseAddr("239.1.2.3"), Port: 5000,
				Source: netip.AddrPortFrom(netip.MustParseAddr("10.0.0.1"), uint16(i))})
			in = in[k:]
			n++
		}
		st := s.seq.Stats()
		if flows := len(s.seq.Flows()); flows > 4096 {
			t.Fatalf("%d flows tracked, over the cap of 4,096", flows)
		}
		if st.Datagrams+st.NoSequence != uint64(n) || s.noHeader != st.NoSequence {
			t.Fatalf("%d datagrams: %d with a number + %d without (%d without a header)", n, st.Datagrams, st.NoSequence, s.noHeader)
		}
	})
}
