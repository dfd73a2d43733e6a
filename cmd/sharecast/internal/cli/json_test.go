package cli_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/netip"
	"testing"
	"time"

	"github.com/sharecast/sharecast/cmd/sharecast/internal/cli"
	"github.com/sharecast/sharecast/dispatch"
	"github.com/sharecast/sharecast/internal/moldudp64"
	"github.com/sharecast/sharecast/internal/wire"
)

// listen's JSON lines carry what the payload decodes to: the sharecast
// header's stream, sequence number and latency; a MoldUDP64 packet's
// session (escaped, whatever bytes a hostile packet holds), sequence number
// and count.
func TestListenJSONDecoded(t *testing.T) {
	var buf bytes.Buffer
	h, flush := cli.NewPrinter(&buf, "json", "base64")
	sent := time.Unix(1_700_000_000, 0)
	sc := make([]byte, 64)
	wire.Header{Stream: 0x5c, Seq: 7, SendTime: sent.UnixNano()}.Put(sc)
	session := moldudp64.Session{'A', '"', '\\', 0x01, ' '}
	mold, err := moldudp64.AppendPacket(nil, session, 42, []byte("m1"), []byte("m2"))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range [][]byte{sc, mold, []byte("plain")} {
		h.ServeDatagram(context.Background(), &dispatch.Datagram{Payload: p, Time: sent.Add(1500 * time.Nanosecond),
			Source: netip.MustParseAddrPort("127.0.0.1:9"), Group: netip.MustParseAddr("239.1.2.3"), Port: 5000})
	}
	flush()
	var got []map[string]any
	dec := json.NewDecoder(&buf)
	for dec.More() {
		var m map[string]any
		if err := dec.Decode(&m); err != nil {
			t.Fatalf("line %d is not JSON: %v\n%s", len(got)+1, err, buf.String())
		}
		got = append(got, m)
	}
	if len(got) != 3 {
		t.Fatalf("%d lines, want 3", len(got))
	}
	s, ok := got[0]["sharecast"].(map[string]any)
	if !ok || s["stream"] != "000000000000005c" || s["seq"] != 7.0 || s["latency_ns"] != 1500.0 {
		t.Errorf("sharecast: %v", got[0])
	}
	m, ok := got[1]["moldudp64"].(map[string]any)
	if !ok || m["session"] != session.String() || m["seq"] != 42.0 || m["count"] != 2.0 {
		t.Errorf("moldudp64: %v", got[1])
	}
	if _, ok := got[2]["sharecast"]; ok {
		t.Errorf("plain payload decoded: %v", got[2])
	}
	if _, ok := got[2]["moldudp64"]; ok {
		t.Errorf("plain payload decoded: %v", got[2])
	}
}
