package wire_test

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/sharecast/sharecast/internal/wire"
)

// header returns the bytes of a version-1 header, written by hand so that
// the test does not trust Put to check Decode.
func header(stream, seq uint64, sent int64) []byte {
	b := []byte{'S', 'C', 'S', 'T', 0, 1, 0, 32}
	for _, v := range []uint64{stream, seq, uint64(sent)} {
		for i := 7; i >= 0; i-- {
			b = append(b, byte(v>>(8*i)))
		}
	}
	return b
}

func TestPutMatchesFormat(t *testing.T) {
	h := wire.Header{Stream: 0x0102030405060708, Seq: 42, SendTime: 1_700_000_000_123_456_789}
	b := make([]byte, wire.HeaderLen+3)
	if n := h.Put(b); n != wire.HeaderLen {
		t.Fatalf("Put returned %d", n)
	}
	if want := header(h.Stream, h.Seq, h.SendTime); !bytes.Equal(b[:wire.HeaderLen], want) {
		t.Fatalf("Put wrote\n%x\nwant\n%x", b[:wire.HeaderLen], want)
	}
	got, err := wire.Decode(b)
	h.Len = wire.HeaderLen
	if err != nil || got != h {
		t.Fatalf("Decode = %+v, %v; want %+v", got, err, h)
	}
	if !got.Time().Equal(time.Unix(0, h.SendTime)) {
		t.Errorf("Time() = %v", got.Time())
	}
	if !wire.Is(b) {
		t.Error("Is = false for a header")
	}
}

func TestDecodeErrors(t *testing.T) {
	good := header(1, 2, 3)
	longer := append(bytes.Clone(good), 0, 0, 0, 0)
	longer[7] = 36 // a future version-1 header of 36 bytes
	cases := []struct {
		name  string
		b     []byte
		err   error
		value int
	}{
		{"empty", nil, wire.ErrShort, 0},
		{"short", good[:31], wire.ErrShort, 31},
		{"bad magic", append([]byte("XCST"), good[4:]...), wire.ErrMagic, 0},
		{"bad magic short", []byte("HTTP/1.1"), wire.ErrMagic, 0},
		{"version 2", append(append([]byte{}, good[:4]...), append([]byte{0, 2}, good[6:]...)...), wire.ErrVersion, 2},
		{"length 31", append(append([]byte{}, good[:6]...), append([]byte{0, 31}, good[8:]...)...), wire.ErrLength, 31},
		{"length past end", longer[:34], wire.ErrShort, 34},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := wire.Decode(c.b)
			var de *wire.DecodeError
			if !errors.Is(err, c.err) || !errors.As(err, &de) || de.Value != c.value {
				t.Fatalf("Decode = %v (%#v), want %v with value %d", err, err, c.err, c.value)
			}
			if err.Error() == "" {
				t.Error("empty message")
			}
		})
	}
	h, err := wire.Decode(longer)
	if err != nil || h.Len != 36 || h.Seq != 2 {
		t.Errorf("Decode of a 36-byte header = %+v, %v", h, err)
	}
}

func TestFill(t *testing.T) {
	p := make([]byte, 300)
	wire.Fill(p, 1000)
	if !wire.CheckFill(p, 1000) {
		t.Fatal("CheckFill rejects Fill's output")
	}
	if seq := uint64(1000); p[0] != byte(seq) || p[299] != byte(seq+299) {
		t.Fatalf("filler %d..%d", p[0], p[299])
	}
	if wire.CheckFill(p, 1001) {
		t.Error("CheckFill accepts the filler of another sequence number")
	}
	p[150]++
	if wire.CheckFill(p, 1000) {
		t.Error("CheckFill accepts a changed byte")
	}
}

func TestNoAllocs(t *testing.T) {
	b := make([]byte, 64)
	h := wire.Header{Stream: 7, Seq: 9, SendTime: 11}
	allocs := testing.AllocsPerRun(1000, func() {
		h.Put(b)
		if _, err := wire.Decode(b); err != nil {
			t.Fatal(err)
		}
		h.Seq++
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per Put+Decode", allocs)
	}
}

func BenchmarkDecode(b *testing.B) {
	buf := make([]byte, 200)
	wire.Header{Stream: 1, Seq: 2, SendTime: 3}.Put(buf)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := wire.Decode(buf); err != nil {
			b.Fatal(err)
		}
	}
}

// FuzzDecodeHeader checks that Decode never panics, that every error is a
// *DecodeError holding one of the sentinels, and that a decoded header
// written again with Put gives back the same first 32 bytes but for the
// length field.
func FuzzDecodeHeader(f *testing.F) {
	f.Add(header(1, 0, 0))
	f.Add(header(^uint64(0), ^uint64(0), -1))
	f.Add([]byte("SCST"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		in := bytes.Clone(b)
		h, err := wire.Decode(b)
		if !bytes.Equal(in, b) {
			t.Fatal("Decode modified its input")
		}
		if err != nil {
			var de *wire.DecodeError
			if !errors.As(err, &de) {
				t.Fatalf("error %T is not a *DecodeError", err)
			}
			switch de.Err {
			case wire.ErrShort, wire.ErrMagic, wire.ErrVersion, wire.ErrLength:
			default:
				t.Fatalf("unknown reason %v", de.Err)
			}
			if wire.Is(b) && len(b) >= wire.HeaderLen && de.Err != wire.ErrLength && de.Err != wire.ErrShort {
				t.Fatalf("Is accepts what Decode refuses with %v", de.Err)
			}
			return
		}
		if h.Len < wire.HeaderLen || h.Len > len(b) || !wire.Is(b) {
			t.Fatalf("decoded %+v from %d bytes", h, len(b))
		}
		out := make([]byte, wire.HeaderLen)
		h.Put(out)
		want := bytes.Clone(b[:wire.HeaderLen])
		want[6], want[7] = 0, wire.HeaderLen
		if !bytes.Equal(out, want) {
			t.Fatalf("Put(Decode(b)) = %x, want %x", out, want)
		}
	})
}
