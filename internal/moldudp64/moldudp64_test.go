package moldudp64_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/sharecast/sharecast/internal/moldudp64"
)

var sess = moldudp64.MustParseSession("20240102AB")

// header builds a raw header without the encoder, so that the decoder is
// tested against bytes written independently of it.
func header(session string, seq uint64, count uint16) []byte {
	b := make([]byte, 20)
	copy(b, session)
	binary.BigEndian.PutUint64(b[10:], seq)
	binary.BigEndian.PutUint16(b[18:], count)
	return b
}

// block appends one raw message block with the given length field and body.
func block(b []byte, length uint16, body string) []byte {
	b = binary.BigEndian.AppendUint16(b, length)
	return append(b, body...)
}

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

func TestDecodeGood(t *testing.T) {
	tests := []struct {
		name      string
		in        []byte
		seq       uint64
		count     uint16
		heartbeat bool
		end       bool
		next      uint64
		msgs      []string
	}{
		{
			name: "one message", in: block(header("20240102AB", 1, 1), 5, "hello"),
			seq: 1, count: 1, next: 2, msgs: []string{"hello"},
		},
		{
			name: "three messages",
			in:   block(block(block(header("20240102AB", 41, 3), 1, "a"), 2, "bc"), 3, "def"),
			seq:  41, count: 3, next: 44, msgs: []string{"a", "bc", "def"},
		},
		{
			name: "empty message", in: block(block(header("20240102AB", 7, 2), 0, ""), 1, "x"),
			seq: 7, count: 2, next: 9, msgs: []string{"", "x"},
		},
		{
			name: "heartbeat", in: header("20240102AB", 100, 0),
			seq: 100, count: 0, heartbeat: true, next: 100,
		},
		{
			name: "end of session", in: header("20240102AB", 12345, 0xFFFF),
			seq: 12345, count: 0xFFFF, end: true, next: 12345,
		},
		{
			name: "longest message",
			in:   block(header("20240102AB", 1, 1), 0xFFFF, strings.Repeat("m", 0xFFFF)),
			seq:  1, count: 1, next: 2, msgs: []string{strings.Repeat("m", 0xFFFF)},
		},
		{
			name: "sequence near the top", in: block(header("20240102AB", 1<<63, 1), 1, "z"),
			seq: 1 << 63, count: 1, next: 1<<63 + 1, msgs: []string{"z"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := moldudp64.Decode(tt.in)
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if p.Session != sess || p.Seq != tt.seq || p.Count != tt.count {
				t.Errorf("header = %q %d %d, want %q %d %d", p.Session, p.Seq, p.Count, sess, tt.seq, tt.count)
			}
			if p.IsHeartbeat() != tt.heartbeat || p.IsEndOfSession() != tt.end {
				t.Errorf("IsHeartbeat, IsEndOfSession = %v, %v, want %v, %v", p.IsHeartbeat(), p.IsEndOfSession(), tt.heartbeat, tt.end)
			}
			if got := p.NextSeq(); got != tt.next {
				t.Errorf("NextSeq = %d, want %d", got, tt.next)
			}
			if p.Len() != len(tt.msgs) {
				t.Errorf("Len = %d, want %d", p.Len(), len(tt.msgs))
			}
			var got []string
			want := tt.seq
			for seq, msg := range p.Messages() {
				if seq != want {
					t.Errorf("message %d has seq %d, want %d", len(got), seq, want)
				}
				want++
				got = append(got, string(msg))
			}
			if !slices.Equal(got, tt.msgs) {
				t.Errorf("Messages = %q, want %q", got, tt.msgs)
			}
			// The Next-style iterator yields the same.
			it := p.Iter()
			for i := range tt.msgs {
				if it.Remaining() != len(tt.msgs)-i {
					t.Errorf("Remaining = %d before message %d, want %d", it.Remaining(), i, len(tt.msgs)-i)
				}
				seq, msg, ok := it.Next()
				if !ok || seq != tt.seq+uint64(i) || string(msg) != tt.msgs[i] {
					t.Errorf("Next = %d %q %v, want %d %q true", seq, msg, ok, tt.seq+uint64(i), tt.msgs[i])
				}
			}
			if _, _, ok := it.Next(); ok {
				t.Error("Next after the last message returned ok")
			}
			if out := p.AppendTo(nil); !bytes.Equal(out, tt.in) {
				t.Errorf("AppendTo = %x, want %x", out, tt.in)
			}
		})
	}
}

func TestDecodeBad(t *testing.T) {
	h := func(count uint16) []byte { return header("20240102AB", 9, count) }
	tests := []struct {
		name string
		in   []byte
		err  error
		// The DecodeError's fields.
		offset, index, need, left int
		text                      string
	}{
		{name: "nil", in: nil, err: moldudp64.ErrShortHeader, need: 20,
			text: "moldudp64: short header: 0 bytes, want 20"},
		{name: "19 bytes", in: h(0)[:19], err: moldudp64.ErrShortHeader, offset: 19, need: 20, left: 19},
		{name: "count 1, no block", in: h(1), err: moldudp64.ErrCountMismatch, offset: 20,
			text: "moldudp64: message count does not match the message blocks: header counts 1, packet holds 0"},
		{name: "count 3, two blocks", in: block(block(h(3), 1, "a"), 1, "b"), err: moldudp64.ErrCountMismatch,
			offset: 26, index: 2},
		{name: "count 1, two blocks", in: block(block(h(1), 1, "a"), 1, "b"), err: moldudp64.ErrCountMismatch,
			offset: 23, index: 1, left: 3,
			text: "moldudp64: message count does not match the message blocks: header counts 1, packet holds more (next at offset 23)"},
		{name: "heartbeat with a block", in: block(h(0), 2, "ab"), err: moldudp64.ErrCountMismatch, offset: 20, left: 4},
		{name: "end of session with a block", in: block(h(0xFFFF), 0, ""), err: moldudp64.ErrCountMismatch, offset: 20, left: 2},
		{name: "half a length field", in: append(h(1), 0), err: moldudp64.ErrTruncatedMessage,
			offset: 20, need: 2, left: 1},
		{name: "length past the end", in: block(h(1), 10, "short"), err: moldudp64.ErrTruncatedMessage,
			offset: 20, need: 12, left: 7,
			text: "moldudp64: truncated message: message 1 of 1 at offset 20 needs 12 bytes, 7 left"},
		{name: "second length past the end", in: block(block(h(2), 1, "a"), 0xFFFF, "x"), err: moldudp64.ErrTruncatedMessage,
			offset: 23, index: 1, need: 0x10001, left: 3},
		{name: "one trailing byte", in: append(block(h(1), 1, "a"), 7), err: moldudp64.ErrTrailingBytes,
			offset: 23, index: 1, left: 1,
			text: "moldudp64: trailing bytes: 1 bytes at offset 23 after message 1 of 1"},
		{name: "trailing partial block", in: append(block(h(1), 1, "a"), 0, 5, 'x'), err: moldudp64.ErrTrailingBytes,
			offset: 23, index: 1, left: 3},
		{name: "heartbeat with junk", in: append(h(0), 1), err: moldudp64.ErrTrailingBytes, offset: 20, left: 1},
		{name: "end of session with junk", in: append(h(0xFFFF), 0, 9), err: moldudp64.ErrTrailingBytes, offset: 20, left: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := moldudp64.Decode(tt.in)
			if !errors.Is(err, tt.err) {
				t.Fatalf("Decode error = %v, want %v", err, tt.err)
			}
			var de *moldudp64.DecodeError
			if !errors.As(err, &de) {
				t.Fatalf("error %T is not a *DecodeError", err)
			}
			if de.Offset != tt.offset || de.Index != tt.index || de.Need != tt.need || de.Left != tt.left {
				t.Errorf("DecodeError{Offset %d, Index %d, Need %d, Left %d}, want {%d, %d, %d, %d}",
					de.Offset, de.Index, de.Need, de.Left, tt.offset, tt.index, tt.need, tt.left)
			}
			if tt.text != "" && err.Error() != tt.text {
				t.Errorf("Error() = %q, want %q", err.Error(), tt.text)
			}
			if !strings.HasPrefix(err.Error(), tt.err.Error()) {
				t.Errorf("Error() = %q does not start with %q", err.Error(), tt.err.Error())
			}
			if p.Payload != nil || p.Count != 0 {
				t.Errorf("Decode returned a non-zero Packet with its error: %+v", p)
			}
			if p, ok := moldudp64.TryDecode(tt.in); ok || p.Payload != nil || p.Count != 0 {
				t.Errorf("TryDecode = %+v, %v; want the zero Packet, false", p, ok)
			}
			if n := testing.AllocsPerRun(100, func() { moldudp64.TryDecode(tt.in) }); n != 0 {
				t.Errorf("TryDecode of a malformed packet: %v allocations, want 0", n)
			}
		})
	}
}

func TestAppendPacket(t *testing.T) {
	msgs := [][]byte{[]byte("AAPL"), nil, []byte("MSFT!")}
	got, err := moldudp64.AppendPacket([]byte("prefix"), sess, 77, msgs...)
	if err != nil {
		t.Fatal(err)
	}
	want := cat([]byte("prefix"), block(block(block(header("20240102AB", 77, 3), 4, "AAPL"), 0, ""), 5, "MSFT!"))
	if !bytes.Equal(got, want) {
		t.Fatalf("AppendPacket = %x\nwant           %x", got, want)
	}
	if got := moldudp64.AppendHeartbeat(nil, sess, 80); !bytes.Equal(got, header("20240102AB", 80, 0)) {
		t.Errorf("AppendHeartbeat = %x", got)
	}
	if got := moldudp64.AppendEndOfSession(nil, sess, 80); !bytes.Equal(got, header("20240102AB", 80, 0xFFFF)) {
		t.Errorf("AppendEndOfSession = %x", got)
	}
	if got, err := moldudp64.AppendPacket(nil, sess, 5); err != nil || !bytes.Equal(got, header("20240102AB", 5, 0)) {
		t.Errorf("AppendPacket with no messages = %x, %v; want a heartbeat", got, err)
	}
}

func TestAppendPacketErrors(t *testing.T) {
	dst := []byte("keep")
	got, err := moldudp64.AppendPacket(dst, sess, 1, []byte("ok"), make([]byte, moldudp64.MaxMessageLen+1))
	if !errors.Is(err, moldudp64.ErrMessageTooLong) || string(got) != "keep" {
		t.Errorf("too long: %q, %v; want %q, ErrMessageTooLong", got, err, "keep")
	}
	if err != nil && !strings.Contains(err.Error(), "seq 2") {
		t.Errorf("error %q does not name seq 2", err)
	}
	many := make([][]byte, moldudp64.MaxMessages+1)
	got, err = moldudp64.AppendPacket(dst, sess, 1, many...)
	if !errors.Is(err, moldudp64.ErrTooManyMessages) || string(got) != "keep" {
		t.Errorf("too many: %q, %v; want %q, ErrTooManyMessages", got, err, "keep")
	}
	// MaxMessages empty messages is allowed, and decodes.
	b, err := moldudp64.AppendPacket(nil, sess, 1, many[:moldudp64.MaxMessages]...)
	if err != nil {
		t.Fatal(err)
	}
	p, err := moldudp64.Decode(b)
	if err != nil || p.Len() != moldudp64.MaxMessages || p.NextSeq() != 1+moldudp64.MaxMessages {
		t.Errorf("Decode of %d empty messages: Len %d NextSeq %d, %v", moldudp64.MaxMessages, p.Len(), p.NextSeq(), err)
	}
}

func TestSession(t *testing.T) {
	tests := []struct {
		in    string
		bytes string
		err   bool
	}{
		{in: "20240102AB", bytes: "20240102AB"},
		{in: "ABC", bytes: "ABC       "},
		{in: "", bytes: "          "},
		{in: "with space", bytes: "with space"},
		{in: "01234567890", err: true},
		{in: "tab\there", err: true},
		{in: "caf\xc3\xa9", err: true},
		{in: "nul\x00", err: true},
	}
	for _, tt := range tests {
		s, err := moldudp64.ParseSession(tt.in)
		if tt.err {
			if !errors.Is(err, moldudp64.ErrInvalidSession) {
				t.Errorf("ParseSession(%q) error = %v, want ErrInvalidSession", tt.in, err)
			}
			continue
		}
		if err != nil || string(s[:]) != tt.bytes {
			t.Errorf("ParseSession(%q) = %q, %v; want %q", tt.in, s[:], err, tt.bytes)
		}
		if s.String() != strings.TrimRight(tt.in, " ") {
			t.Errorf("String() = %q, want %q", s.String(), tt.in)
		}
		if back, err := moldudp64.ParseSession(s.String()); err != nil || back != s {
			t.Errorf("ParseSession(String()) = %q, %v; want %q", back[:], err, s[:])
		}
	}
	var raw moldudp64.Session
	copy(raw[:], "AB\x00\xff")
	if got, want := raw.String(), `"AB\x00\xff\x00\x00\x00\x00\x00\x00"`; got != want {
		t.Errorf("String of a binary session = %s, want %s", got, want)
	}
}

func TestHandBuiltPacket(t *testing.T) {
	// A Packet built by hand with a bad payload is iterated up to the
	// fault, never past it, and never panics.
	p := moldudp64.Packet{Seq: 5, Count: 4, Payload: block(block(nil, 1, "a"), 9, "bc")}
	var n int
	for seq, msg := range p.Messages() {
		if seq != 5 || string(msg) != "a" {
			t.Errorf("message %d %q, want 5 %q", seq, msg, "a")
		}
		n++
	}
	if n != 1 {
		t.Errorf("%d messages, want 1", n)
	}
	if p := (moldudp64.Packet{Seq: ^uint64(0), Count: 1}); p.Valid() {
		t.Error("Valid() for a packet that wraps around")
	}
	if p := (moldudp64.Packet{Seq: ^uint64(0) - 1, Count: 1}); !p.Valid() {
		t.Error("!Valid() for a packet that ends at 2^64-1")
	}
	if p := (moldudp64.Packet{Seq: ^uint64(0), Count: moldudp64.EndOfSession}); !p.Valid() {
		t.Error("!Valid() for an end of session at 2^64-1")
	}
	// Breaking out of the range loop early stops the iterator.
	p = moldudp64.Packet{Seq: 1, Count: 2, Payload: block(block(nil, 1, "a"), 1, "b")}
	for range p.Messages() {
		break
	}
}

func TestDecodeAllocs(t *testing.T) {
	b, err := moldudp64.AppendPacket(make([]byte, 0, 512), sess, 1, []byte("one"), []byte("two"), []byte("three"))
	if err != nil {
		t.Fatal(err)
	}
	var total int
	n := testing.AllocsPerRun(1000, func() {
		p, err := moldudp64.Decode(b)
		if err != nil {
			t.Fatal(err)
		}
		for _, msg := range p.Messages() {
			total += len(msg)
		}
		b, _ = moldudp64.AppendPacket(b[:0], p.Session, p.Seq, []byte("one"), []byte("two"), []byte("three"))
	})
	if n != 0 || total != 11*1001 {
		t.Errorf("%v allocations per decode, walk and encode, %d bytes walked; want 0 and %d", n, total, 11*1001)
	}
}
