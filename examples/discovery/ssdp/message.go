package ssdp

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"time"
)

// Limits of one message, which [Parse] enforces.
const (
	// MaxMessage is the largest datagram the Agent reads (bytes); a
	// longer one is truncated by the socket and dropped (counted by
	// package mcast). UDA 2.0 keeps SSDP messages within one UDP
	// datagram; real ones are below 1 KB.
	MaxMessage = 8192
	// MaxHeaders is the most header lines a message may carry.
	MaxHeaders = 32
	// MaxLine is the longest line (start line or header, bytes).
	MaxLine = 1024
)

// Errors of [Parse]; each wraps ErrMalformed.
var (
	ErrMalformed      = errors.New("ssdp: malformed message")
	ErrNoLineEnd      = fmt.Errorf("%w: no line end (CRLF)", ErrMalformed)
	ErrStartLine      = fmt.Errorf("%w: unknown start line", ErrMalformed)
	ErrHeaderLine     = fmt.Errorf("%w: header line without a colon", ErrMalformed)
	ErrTooManyHeaders = fmt.Errorf("%w: more than %d headers", ErrMalformed, MaxHeaders)
	ErrLineTooLong    = fmt.Errorf("%w: a line longer than %d bytes", ErrMalformed, MaxLine)
	ErrTooLarge       = fmt.Errorf("%w: more than %d bytes", ErrMalformed, MaxMessage)
)

// Kind is the kind of an SSDP message.
type Kind uint8

// The kinds of SSDP message (UDA 2.0 section 1).
const (
	Notify   Kind = iota + 1 // NOTIFY * HTTP/1.1: ssdp:alive, ssdp:byebye, ssdp:update
	Search                   // M-SEARCH * HTTP/1.1
	Response                 // HTTP/1.1 200 OK, the answer to an M-SEARCH
)

func (k Kind) String() string {
	switch k {
	case Notify:
		return "NOTIFY"
	case Search:
		return "M-SEARCH"
	case Response:
		return "response"
	}
	return "unknown"
}

// Header is one header line, as views into the parsed datagram.
type Header struct {
	Name, Value []byte
}

// Message is one parsed SSDP message. Its byte slices are views into the
// datagram given to [Parse]: they are valid as long as it is. A Message
// may be reused for the next Parse; parsing allocates nothing.
type Message struct {
	Kind Kind
	// Status is a response's status code (200 for an answer).
	Status  int
	Headers []Header
	hdrs    [MaxHeaders]Header
}

// Parse parses b, an SSDP datagram, into m. Lines end in CRLF; a bare LF
// is accepted too, as many stacks send it. The headers end at the first
// empty line or at the end of b. Header names are matched without regard
// to case by [Message.Get]. It returns an error that wraps ErrMalformed
// (and says which rule b broke) for anything else.
func Parse(m *Message, b []byte) error {
	m.Kind, m.Status, m.Headers = 0, 0, m.hdrs[:0]
	if len(b) > MaxMessage {
		return ErrTooLarge
	}
	line, rest, ok := cutLine(b)
	if !ok {
		if len(b) > MaxLine {
			return ErrLineTooLong
		}
		return ErrNoLineEnd
	}
	if len(line) > MaxLine {
		return ErrLineTooLong
	}
	switch {
	case bytes.Equal(line, []byte("NOTIFY * HTTP/1.1")):
		m.Kind = Notify
	case bytes.Equal(line, []byte("M-SEARCH * HTTP/1.1")):
		m.Kind = Search
	case len(line) >= 12 && bytes.HasPrefix(line, []byte("HTTP/1.")) && line[8] == ' ':
		code := 0
		for _, c := range line[9:12] {
			code = code*10 + int(c) - '0'
			if c < '0' || c > '9' {
				code = -1000
			}
		}
		if code < 100 || code > 599 || len(line) > 12 && line[12] != ' ' {
			return ErrStartLine
		}
		m.Kind, m.Status = Response, code
	default:
		return ErrStartLine
	}
	for len(rest) > 0 {
		line, rest, _ = cutLine(rest) // the last line may end with the datagram
		if len(line) > MaxLine {
			return ErrLineTooLong
		}
		if len(line) == 0 {
			break // the end of the headers; a body, if any, is ignored
		}
		name, value, ok := bytes.Cut(line, []byte(":"))
		if name = bytes.TrimSpace(name); !ok || len(name) == 0 {
			return ErrHeaderLine
		}
		if len(m.Headers) == MaxHeaders {
			return ErrTooManyHeaders
		}
		m.Headers = append(m.Headers, Header{Name: name, Value: bytes.TrimSpace(value)})
	}
	return nil
}

// cutLine returns b's first line without its line end, and the rest; ok
// is false if b has no line end.
func cutLine(b []byte) (line, rest []byte, ok bool) {
	i := bytes.IndexByte(b, '\n')
	if i < 0 {
		return b, nil, false
	}
	line = b[:i]
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	return line, b[i+1:], true
}

// Get returns the value of the first header called name (any case), or
// nil.
func (m *Message) Get(name string) []byte {
	for _, h := range m.Headers {
		if len(h.Name) == len(name) && bytes.EqualFold(h.Name, []byte(name)) {
			return h.Value
		}
	}
	return nil
}

// USN, NT, NTS, ST and Location return those headers.
func (m *Message) USN() []byte      { return m.Get("USN") }
func (m *Message) NT() []byte       { return m.Get("NT") }
func (m *Message) NTS() []byte      { return m.Get("NTS") }
func (m *Message) ST() []byte       { return m.Get("ST") }
func (m *Message) Location() []byte { return m.Get("LOCATION") }

// Type is what the message announces or answers: NT for a NOTIFY, ST
// for a response or a search.
func (m *Message) Type() []byte {
	if m.Kind == Notify {
		return m.NT()
	}
	return m.ST()
}

// MaxAge returns the max-age directive of the CACHE-CONTROL header, and
// false if there is none or it is not a number of seconds.
func (m *Message) MaxAge() (time.Duration, bool) {
	v := m.Get("CACHE-CONTROL")
	for len(v) > 0 {
		var d []byte
		d, v, _ = bytes.Cut(v, []byte(","))
		name, val, ok := bytes.Cut(d, []byte("="))
		if !ok || !bytes.EqualFold(bytes.TrimSpace(name), []byte("max-age")) {
			continue
		}
		val = bytes.Trim(bytes.TrimSpace(val), `"`)
		if len(val) == 0 || len(val) > 10 {
			return 0, false
		}
		var n int64
		for _, c := range val {
			if c < '0' || c > '9' {
				return 0, false
			}
			n = n*10 + int64(c-'0')
		}
		return time.Duration(n) * time.Second, true
	}
	return 0, false
}

// UUID returns the device part of a USN ("uuid:..." before "::"), or nil
// if usn does not start with "uuid:" and something more.
func UUID(usn []byte) []byte {
	if len(usn) < 6 || !bytes.EqualFold(usn[:5], []byte("uuid:")) {
		return nil
	}
	if i := bytes.Index(usn[5:], []byte("::")); i >= 0 {
		usn = usn[:5+i]
	}
	if len(usn) == 5 {
		return nil
	}
	return usn
}

// NTS values of a NOTIFY (UDA 2.0 section 1.2).
const (
	Alive  = "ssdp:alive"
	Byebye = "ssdp:byebye"
	Update = "ssdp:update"
)

// SearchAll is the search target that asks every device and service to
// answer.
const SearchAll = "ssdp:all"

// AppendSearch appends an M-SEARCH request for st to b: sent to host
// (the group and port, "239.255.255.250:1900" or "[FF02::C]:1900"),
// answered within mx seconds (1 to 5, UDA 2.0 section 1.3.2).
func AppendSearch(b []byte, host, st string, mx int) []byte {
	b = append(b, "M-SEARCH * HTTP/1.1\r\nHOST: "...)
	b = append(b, host...)
	b = append(b, "\r\nMAN: \"ssdp:discover\"\r\nMX: "...)
	b = strconv.AppendInt(b, int64(mx), 10)
	b = append(b, "\r\nST: "...)
	b = append(b, st...)
	b = append(b, "\r\nUSER-AGENT: Linux/1 UPnP/2.0 sharecast-discovery/1\r\n\r\n"...)
	return b
}

// Announcement is what a NOTIFY or a search response carries, for
// [AppendNotify] and [AppendResponse].
type Announcement struct {
	NT, USN, Location, Server string
	MaxAge                    time.Duration
}

// AppendNotify appends a NOTIFY with nts (Alive, Byebye, Update) for a to
// b, sent to host; a byebye carries no LOCATION and no CACHE-CONTROL.
func AppendNotify(b []byte, host, nts string, a *Announcement) []byte {
	b = append(b, "NOTIFY * HTTP/1.1\r\nHOST: "...)
	b = append(b, host...)
	b = append(b, "\r\nNT: "...)
	b = append(b, a.NT...)
	b = append(b, "\r\nNTS: "...)
	b = append(b, nts...)
	b = append(b, "\r\nUSN: "...)
	b = append(b, a.USN...)
	if nts != Byebye {
		b = append(b, "\r\nCACHE-CONTROL: max-age="...)
		b = strconv.AppendInt(b, int64(a.MaxAge/time.Second), 10)
		b = append(b, "\r\nLOCATION: "...)
		b = append(b, a.Location...)
		b = append(b, "\r\nSERVER: "...)
		b = append(b, a.Server...)
	}
	return append(b, "\r\n\r\n"...)
}

// AppendResponse appends the 200 OK answer to a search for a.NT (the ST
// header takes its value) to b.
func AppendResponse(b []byte, a *Announcement) []byte {
	b = append(b, "HTTP/1.1 200 OK\r\nCACHE-CONTROL: max-age="...)
	b = strconv.AppendInt(b, int64(a.MaxAge/time.Second), 10)
	b = append(b, "\r\nEXT:\r\nLOCATION: "...)
	b = append(b, a.Location...)
	b = append(b, "\r\nSERVER: "...)
	b = append(b, a.Server...)
	b = append(b, "\r\nST: "...)
	b = append(b, a.NT...)
	b = append(b, "\r\nUSN: "...)
	b = append(b, a.USN...)
	return append(b, "\r\n\r\n"...)
}
