package moldudp64_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/sharecast/sharecast/internal/moldudp64"
)

func TestRequest(t *testing.T) {
	r := moldudp64.Request{Session: moldudp64.MustParseSession("20240102A"), Seq: 1 << 40, Count: 7}
	b := moldudp64.AppendRequest(nil, r)
	if len(b) != moldudp64.RequestLen || string(b[:10]) != "20240102A " {
		t.Fatalf("AppendRequest = %q", b)
	}
	got, err := moldudp64.DecodeRequest(b)
	if err != nil || got != r || got.End() != 1<<40+7 {
		t.Fatalf("DecodeRequest = %+v, %v", got, err)
	}
	if _, err := moldudp64.DecodeRequest(b[:19]); !errors.Is(err, moldudp64.ErrShortHeader) {
		t.Errorf("19 bytes: %v", err)
	}
	if _, err := moldudp64.DecodeRequest(append(b, 0)); !errors.Is(err, moldudp64.ErrTrailingBytes) {
		t.Errorf("21 bytes: %v", err)
	}
	for _, c := range []struct {
		r   moldudp64.Request
		end uint64
	}{
		{moldudp64.Request{Seq: ^uint64(0), Count: 2}, ^uint64(0)},
		{moldudp64.Request{Seq: 5, Count: moldudp64.EndOfSession}, 5},
		{moldudp64.Request{Seq: 5}, 5},
	} {
		if got := c.r.End(); got != c.end {
			t.Errorf("%+v.End() = %d, want %d", c.r, got, c.end)
		}
	}
}

// FuzzDecodeRequest checks that DecodeRequest never panics, accepts
// exactly the 20-byte packets, re-encodes them byte for byte, and that End
// never wraps around.
func FuzzDecodeRequest(f *testing.F) {
	f.Add(moldudp64.AppendRequest(nil, moldudp64.Request{Seq: 1, Count: 10}))
	f.Add(moldudp64.AppendRequest(nil, moldudp64.Request{Seq: ^uint64(0), Count: 0xFFFF}))
	f.Add([]byte("short"))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := moldudp64.DecodeRequest(b)
		if (err == nil) != (len(b) == moldudp64.RequestLen) {
			t.Fatalf("%d bytes: %v", len(b), err)
		}
		if err != nil {
			if !errors.Is(err, moldudp64.ErrShortHeader) && !errors.Is(err, moldudp64.ErrTrailingBytes) {
				t.Fatalf("unknown error %v", err)
			}
			return
		}
		if !bytes.Equal(moldudp64.AppendRequest(nil, r), b) {
			t.Fatal("re-encoded request differs")
		}
		if end := r.End(); end < r.Seq || (r.Count != moldudp64.EndOfSession && end-r.Seq > uint64(r.Count)) {
			t.Fatalf("%+v: End %d", r, end)
		}
	})
}
