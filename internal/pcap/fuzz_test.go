package pcap_test

import (
	"bytes"
	"errors"
	"io"
	"net/netip"
	"testing"
	"time"

	"github.com/sharecast/sharecast/internal/pcap"
)

// FuzzReader reads arbitrary bytes as a pcap file and each record as a
// UDP packet: no panic, every error wraps ErrFormat, and a packet that
// parses writes back (through Writer) to a record that parses the same.
func FuzzReader(f *testing.F) {
	var buf bytes.Buffer
	w, _ := pcap.NewWriter(&buf)
	_ = w.WriteUDP(time.Unix(1, 2), netip.MustParseAddrPort("10.0.0.1:1"), netip.MustParseAddrPort("239.1.1.1:2"), []byte("hello"))
	_ = w.WriteUDP(time.Unix(3, 4), netip.MustParseAddrPort("[fe80::1]:1"), netip.MustParseAddrPort("[ff02::fb]:5353"), []byte("odd"))
	_ = w.Flush()
	f.Add(buf.Bytes())
	f.Add(buf.Bytes()[:30])
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := pcap.NewReader(bytes.NewReader(b))
		if err != nil {
			if !errors.Is(err, pcap.ErrFormat) {
				t.Fatalf("NewReader: %v does not wrap ErrFormat", err)
			}
			return
		}
		for {
			rec, err := r.Next()
			if err == io.EOF {
				return
			}
			if err != nil {
				if !errors.Is(err, pcap.ErrFormat) {
					t.Fatalf("Next: %v does not wrap ErrFormat", err)
				}
				return
			}
			u, err := pcap.ParseUDP(rec.Data)
			if err != nil {
				if !errors.Is(err, pcap.ErrFormat) {
					t.Fatalf("ParseUDP: %v does not wrap ErrFormat", err)
				}
				continue
			}
			var out bytes.Buffer
			w, _ := pcap.NewWriter(&out)
			if err := w.WriteUDP(rec.Time, u.Src, u.Dst, u.Payload); err != nil {
				continue // e.g. a v4-mapped pair the writer unmaps, or a too-long payload
			}
			_ = w.Flush()
			r2, err := pcap.NewReader(&out)
			if err != nil {
				t.Fatal(err)
			}
			rec2, err := r2.Next()
			if err != nil {
				t.Fatal(err)
			}
			u2, err := pcap.ParseUDP(rec2.Data)
			if err != nil || !u2.ChecksumOK || u2.Src.Port() != u.Src.Port() || u2.Dst.Port() != u.Dst.Port() || !bytes.Equal(u2.Payload, u.Payload) {
				t.Fatalf("rewritten %+v (%v), want %+v", u2, err, u)
			}
		}
	})
}
