package moldudp64_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/sharecast/sharecast/internal/moldudp64"
)

// FuzzDecode checks that Decode never panics, that TryDecode agrees with it,
// that every error is one of the four sentinels inside a *DecodeError, and that a decoded packet's messages
// re-encode, through both AppendTo and AppendPacket, to the same bytes.
func FuzzDecode(f *testing.F) {
	f.Add(block(block(header("20240102AB", 1, 2), 1, "a"), 2, "bc"))
	f.Add(header("20240102AB", 9, 0))
	f.Add(header("20240102AB", 9, 0xFFFF))
	f.Add(block(header("S", 3, 2), 1, "a"))
	f.Add(append(block(header("S", 3, 1), 1, "a"), 0))
	f.Add(header("S", 1, 1)[:7])
	f.Fuzz(func(t *testing.T, b []byte) {
		in := bytes.Clone(b)
		p, err := moldudp64.Decode(b)
		if !bytes.Equal(in, b) {
			t.Fatal("Decode modified its input")
		}
		if tp, ok := moldudp64.TryDecode(b); ok != (err == nil) || tp.Seq != p.Seq || tp.Count != p.Count ||
			tp.Session != p.Session || !bytes.Equal(tp.Payload, p.Payload) {
			t.Fatalf("TryDecode = %+v, %v; Decode = %+v, %v", tp, ok, p, err)
		}
		if err != nil {
			var de *moldudp64.DecodeError
			if !errors.As(err, &de) {
				t.Fatalf("error %T %v is not a *DecodeError", err, err)
			}
			switch de.Err {
			case moldudp64.ErrShortHeader, moldudp64.ErrTruncatedMessage, moldudp64.ErrCountMismatch, moldudp64.ErrTrailingBytes:
			default:
				t.Fatalf("unknown reason %v", de.Err)
			}
			_ = err.Error()
			return
		}
		if out := p.AppendTo(nil); !bytes.Equal(out, b) {
			t.Fatalf("AppendTo = %x, want %x", out, b)
		}
		var msgs [][]byte
		next := p.Seq
		for seq, msg := range p.Messages() {
			if seq != next {
				t.Fatalf("seq %d, want %d", seq, next)
			}
			next++
			msgs = append(msgs, msg)
		}
		if len(msgs) != p.Len() || (p.Valid() && next != p.NextSeq()) {
			t.Fatalf("%d messages up to %d, want %d up to %d", len(msgs), next, p.Len(), p.NextSeq())
		}
		var out []byte
		switch {
		case p.IsEndOfSession():
			out = moldudp64.AppendEndOfSession(nil, p.Session, p.Seq)
		case p.IsHeartbeat():
			out = moldudp64.AppendHeartbeat(nil, p.Session, p.Seq)
		default:
			out, err = moldudp64.AppendPacket(nil, p.Session, p.Seq, msgs...)
			if err != nil {
				t.Fatal(err)
			}
		}
		if !bytes.Equal(out, b) {
			t.Fatalf("re-encoded %x, want %x", out, b)
		}
	})
}
