package moldudp64_test

import (
	"testing"

	"github.com/sharecast/sharecast/internal/moldudp64"
)

// benchPacket returns a packet of n messages of size bytes each, about the
// shape of an ITCH packet (n=20, size=36 makes 780 bytes).
func benchPacket(b *testing.B, n, size int) []byte {
	b.Helper()
	msgs := make([][]byte, n)
	for i := range msgs {
		msgs[i] = make([]byte, size)
	}
	pkt, err := moldudp64.AppendPacket(nil, sess, 1000, msgs...)
	if err != nil {
		b.Fatal(err)
	}
	return pkt
}

// BenchmarkDecode measures Decode alone and Decode followed by a walk over
// every message, with each iterator; all three should report 0 allocs/op.
func BenchmarkDecode(b *testing.B) {
	pkt := benchPacket(b, 20, 36)
	b.Run("decode", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(pkt)))
		for b.Loop() {
			if _, err := moldudp64.Decode(pkt); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("range", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(pkt)))
		var total int
		for b.Loop() {
			p, err := moldudp64.Decode(pkt)
			if err != nil {
				b.Fatal(err)
			}
			for _, msg := range p.Messages() {
				total += len(msg)
			}
		}
		if total == 0 {
			b.Fatal("no messages")
		}
	})
	b.Run("next", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(pkt)))
		var total int
		for b.Loop() {
			p, err := moldudp64.Decode(pkt)
			if err != nil {
				b.Fatal(err)
			}
			it := p.Iter()
			for _, msg, ok := it.Next(); ok; _, msg, ok = it.Next() {
				total += len(msg)
			}
		}
		if total == 0 {
			b.Fatal("no messages")
		}
	})
}

// BenchmarkAppendPacket measures encoding into a reused buffer (0 allocs/op).
func BenchmarkAppendPacket(b *testing.B) {
	msgs := make([][]byte, 20)
	for i := range msgs {
		msgs[i] = make([]byte, 36)
	}
	buf := make([]byte, 0, 2048)
	b.ReportAllocs()
	for b.Loop() {
		var err error
		if buf, err = moldudp64.AppendPacket(buf[:0], sess, 1, msgs...); err != nil {
			b.Fatal(err)
		}
	}
	b.SetBytes(int64(len(buf)))
}
