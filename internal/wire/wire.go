package wire

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"
)

// HeaderLen is the length of a version-1 header, and the least room a
// datagram needs to carry one.
const HeaderLen = 32

// Version is the header version that Put writes.
const Version = 1

// Magic is the first four bytes of every header.
var Magic = [4]byte{'S', 'C', 'S', 'T'}

// Sentinel errors of [Decode]. A decode error is a *DecodeError that
// unwraps to one of them.
var (
	// ErrShort reports a datagram shorter than HeaderLen, or than the
	// header length that its header states.
	ErrShort = errors.New("wire: datagram too short for a sharecast header")
	// ErrMagic reports a datagram that does not start with Magic: not a
	// sharecast test datagram.
	ErrMagic = errors.New("wire: no sharecast magic")
	// ErrVersion reports a header of a version that this package does not
	// know.
	ErrVersion = errors.New("wire: unknown header version")
	// ErrLength reports a header length field under HeaderLen.
	ErrLength = errors.New("wire: bad header length")
)

// DecodeError is what Decode returns for bytes that are not a valid header.
type DecodeError struct {
	// Err is ErrShort, ErrMagic, ErrVersion or ErrLength.
	Err error
	// Value is the offending value: the datagram's length for ErrShort,
	// the version for ErrVersion, the length field for ErrLength (0 for
	// ErrMagic).
	Value int
}

func (e *DecodeError) Error() string {
	if e.Err == ErrMagic {
		return e.Err.Error()
	}
	return fmt.Sprintf("%s (%d)", e.Err, e.Value)
}

// Unwrap returns Err.
func (e *DecodeError) Unwrap() error { return e.Err }

// Header is the decoded sharecast test header.
type Header struct {
	// Stream identifies one run of one sender.
	Stream uint64
	// Seq is the datagram's sequence number in its stream, from 0.
	Seq uint64
	// SendTime is when the sender sent the datagram, in nanoseconds since
	// the Unix epoch.
	SendTime int64
	// Len is the header's length in bytes as decoded (HeaderLen for a
	// version-1 header). Put ignores it and writes HeaderLen.
	Len int
}

// Time returns SendTime as a time.Time.
func (h Header) Time() time.Time { return time.Unix(0, h.SendTime) }

// Put writes h as a version-1 header into the first HeaderLen bytes of b,
// which must be at least that long (it panics otherwise, as binary.PutUint64
// does). It returns HeaderLen.
func (h Header) Put(b []byte) int {
	_ = b[HeaderLen-1]
	copy(b[0:4], Magic[:])
	binary.BigEndian.PutUint16(b[4:6], Version)
	binary.BigEndian.PutUint16(b[6:8], HeaderLen)
	binary.BigEndian.PutUint64(b[8:16], h.Stream)
	binary.BigEndian.PutUint64(b[16:24], h.Seq)
	binary.BigEndian.PutUint64(b[24:32], uint64(h.SendTime))
	return HeaderLen
}

// Decode reads the header at the start of b. It allocates nothing for a
// valid header, never panics, and does not retain b. For anything else it
// returns a *DecodeError.
func Decode(b []byte) (Header, error) {
	if len(b) < HeaderLen {
		if len(b) >= 4 && [4]byte(b[:4]) != Magic {
			return Header{}, &DecodeError{Err: ErrMagic}
		}
		return Header{}, &DecodeError{Err: ErrShort, Value: len(b)}
	}
	if [4]byte(b[:4]) != Magic {
		return Header{}, &DecodeError{Err: ErrMagic}
	}
	if v := binary.BigEndian.Uint16(b[4:6]); v != Version {
		return Header{}, &DecodeError{Err: ErrVersion, Value: int(v)}
	}
	n := int(binary.BigEndian.Uint16(b[6:8]))
	if n < HeaderLen {
		return Header{}, &DecodeError{Err: ErrLength, Value: n}
	}
	if n > len(b) {
		return Header{}, &DecodeError{Err: ErrShort, Value: len(b)}
	}
	return Header{
		Stream:   binary.BigEndian.Uint64(b[8:16]),
		Seq:      binary.BigEndian.Uint64(b[16:24]),
		SendTime: int64(binary.BigEndian.Uint64(b[24:32])),
		Len:      n,
	}, nil
}

// Is reports whether b starts with a sharecast header, by its magic and
// version alone.
func Is(b []byte) bool {
	return len(b) >= HeaderLen && [4]byte(b[:4]) == Magic && binary.BigEndian.Uint16(b[4:6]) == Version
}

// ramp holds 0, 1, ..., 255 twice, so that any 256 consecutive filler
// bytes are one slice of it.
var ramp = func() (r [512]byte) {
	for i := range r {
		r[i] = byte(i)
	}
	return r
}()

// Fill writes the filler of datagram seq into p, the bytes after the
// header: byte i of p is byte(seq + i). It lets a receiver check every byte
// of a datagram with CheckFill.
func Fill(p []byte, seq uint64) {
	off := int(byte(seq))
	for len(p) > 0 {
		n := copy(p, ramp[off:off+256])
		p = p[n:]
		off = (off + n) & 0xff
	}
}

// CheckFill reports whether p is the filler that Fill writes for seq.
func CheckFill(p []byte, seq uint64) bool {
	s := byte(seq)
	for i, c := range p {
		if c != s+byte(i) {
			return false
		}
	}
	return true
}
