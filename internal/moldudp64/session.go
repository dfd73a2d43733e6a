package moldudp64

import (
	"fmt"
	"strconv"
)

// Session is the 10-byte session field of a MoldUDP64 packet: ASCII,
// left-justified and padded with spaces on the right, as Nasdaq's "Alpha"
// fields are. The zero Session (ten NUL bytes) is not a valid session name;
// package arbiter and others use it to mean "none yet".
type Session [10]byte

// ParseSession returns the Session for name: at most 10 bytes of printable
// ASCII (0x20 to 0x7E), padded on the right with spaces. Any other name
// returns an error wrapping [ErrInvalidSession].
func ParseSession(name string) (Session, error) {
	var s Session
	if len(name) > len(s) {
		return s, fmt.Errorf("%q is %d bytes, at most %d: %w", name, len(name), len(s), ErrInvalidSession)
	}
	for i := 0; i < len(name); i++ {
		if c := name[i]; c < 0x20 || c > 0x7e {
			return s, fmt.Errorf("%q has byte %#02x at %d, want printable ASCII: %w", name, c, i, ErrInvalidSession)
		}
	}
	n := copy(s[:], name)
	for i := n; i < len(s); i++ {
		s[i] = ' '
	}
	return s, nil
}

// MustParseSession is like [ParseSession] but panics on an invalid name. It
// is meant for constants in tests and examples.
func MustParseSession(name string) Session {
	s, err := ParseSession(name)
	if err != nil {
		panic(err)
	}
	return s
}

// String returns the session name without its trailing spaces, so that
// ParseSession(s.String()) == s for every session ParseSession returns. A
// session holding bytes that are not printable ASCII (as a hostile packet
// may) is returned quoted, Go-style, with all ten bytes.
func (s Session) String() string {
	b, _ := s.AppendText(nil)
	return string(b)
}

// AppendText appends what String returns to b (encoding.TextAppender); it
// allocates nothing where b has room.
func (s Session) AppendText(b []byte) ([]byte, error) {
	end := len(s)
	for end > 0 && s[end-1] == ' ' {
		end--
	}
	for _, c := range s[:end] {
		if c < 0x20 || c > 0x7e {
			return strconv.AppendQuoteToASCII(b, string(s[:])), nil
		}
	}
	return append(b, s[:end]...), nil
}
