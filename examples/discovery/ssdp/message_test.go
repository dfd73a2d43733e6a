package ssdp_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/sharecast/sharecast/examples/discovery/ssdp"
)

// minidlnaNotify is what minidlna 1.3.0 sends (captured in the test bed).
const minidlnaNotify = "NOTIFY * HTTP/1.1\r\n" +
	"HOST:239.255.255.250:1900\r\n" +
	"CACHE-CONTROL:max-age=70\r\n" +
	"LOCATION:http://10.78.0.2:8200/rootDesc.xml\r\n" +
	"SERVER: Debian DLNADOC/1.50 UPnP/1.0 MiniDLNA/1.3.0\r\n" +
	"NT:urn:schemas-upnp-org:device:MediaServer:1\r\n" +
	"USN:uuid:4d696e69-444c-164e-9d41-1a620e761df9::urn:schemas-upnp-org:device:MediaServer:1\r\n" +
	"NTS:ssdp:alive\r\n" +
	"\r\n"

func TestParse(t *testing.T) {
	var m ssdp.Message
	if err := ssdp.Parse(&m, []byte(minidlnaNotify)); err != nil {
		t.Fatal(err)
	}
	age, ok := m.MaxAge()
	if m.Kind != ssdp.Notify || string(m.NTS()) != ssdp.Alive || !ok || age != 70*time.Second ||
		string(m.Location()) != "http://10.78.0.2:8200/rootDesc.xml" ||
		string(m.Type()) != "urn:schemas-upnp-org:device:MediaServer:1" ||
		string(ssdp.UUID(m.USN())) != "uuid:4d696e69-444c-164e-9d41-1a620e761df9" ||
		string(m.Get("server")) != "Debian DLNADOC/1.50 UPnP/1.0 MiniDLNA/1.3.0" {
		t.Errorf("parsed %+v", m)
	}

	for _, c := range []struct {
		in   string
		kind ssdp.Kind
		err  error
	}{
		{"M-SEARCH * HTTP/1.1\r\nHOST: 239.255.255.250:1900\r\nMAN: \"ssdp:discover\"\r\nMX: 2\r\nST: ssdp:all\r\n\r\n", ssdp.Search, nil},
		{"HTTP/1.1 200 OK\r\nST: upnp:rootdevice\r\nUSN: uuid:x::upnp:rootdevice\r\n\r\n", ssdp.Response, nil},
		{"HTTP/1.1 200\r\n\r\n", ssdp.Response, nil},
		{"NOTIFY * HTTP/1.1\nNT: a\nNTS: ssdp:byebye\n\n", ssdp.Notify, nil}, // bare LF
		{"NOTIFY * HTTP/1.1\r\nNT: a", ssdp.Notify, nil},                     // the datagram ends the last line
		{"NOTIFY * HTTP/1.1", 0, ssdp.ErrNoLineEnd},
		{"", 0, ssdp.ErrNoLineEnd},
		{"GET / HTTP/1.1\r\n\r\n", 0, ssdp.ErrStartLine},
		{"HTTP/1.1 2x0 OK\r\n\r\n", 0, ssdp.ErrStartLine},
		{"HTTP/1.1 200OK\r\n\r\n", 0, ssdp.ErrStartLine},
		{"HTTP/1.1 099 X\r\n\r\n", 0, ssdp.ErrStartLine},
		{"NOTIFY * HTTP/1.1\r\nno colon\r\n\r\n", 0, ssdp.ErrHeaderLine},
		{"NOTIFY * HTTP/1.1\r\n: empty name\r\n\r\n", 0, ssdp.ErrHeaderLine},
		{"NOTIFY * HTTP/1.1\r\n" + strings.Repeat("X: y\r\n", ssdp.MaxHeaders+1) + "\r\n", 0, ssdp.ErrTooManyHeaders},
		{"NOTIFY * HTTP/1.1\r\n" + strings.Repeat("X: y\r\n", ssdp.MaxHeaders) + "\r\n", ssdp.Notify, nil},
		{"NOTIFY * HTTP/1.1\r\nX: " + strings.Repeat("y", ssdp.MaxLine) + "\r\n\r\n", 0, ssdp.ErrLineTooLong},
		{strings.Repeat("N", ssdp.MaxLine+1), 0, ssdp.ErrLineTooLong},
		{"NOTIFY * HTTP/1.1\r\n" + strings.Repeat("X: y\r\n", 2000), 0, ssdp.ErrTooLarge},
	} {
		err := ssdp.Parse(&m, []byte(c.in))
		if !errors.Is(err, c.err) || c.err != nil && !errors.Is(err, ssdp.ErrMalformed) || err == nil && m.Kind != c.kind {
			t.Errorf("Parse(%.40q) = %v, kind %v; want %v, kind %v", c.in, err, m.Kind, c.err, c.kind)
		}
	}
}

func TestMaxAge(t *testing.T) {
	for in, want := range map[string]time.Duration{
		"max-age=1800":           1800 * time.Second,
		"max-age = 60":           time.Minute,
		`no-cache, MAX-AGE="30"`: 30 * time.Second,
		"max-age=-1":             -1,
		"max-age=":               -1,
		"max-age=99999999999":    -1,
		"no-cache":               -1,
		"max-age=1x":             -1,
	} {
		var m ssdp.Message
		if err := ssdp.Parse(&m, []byte("NOTIFY * HTTP/1.1\r\nCache-Control: "+in+"\r\n\r\n")); err != nil {
			t.Fatal(err)
		}
		got, ok := m.MaxAge()
		if !ok {
			got = -1
		}
		if got != want {
			t.Errorf("MaxAge(%q) = %v, want %v", in, got, want)
		}
	}
}

func TestBuild(t *testing.T) {
	a := &ssdp.Announcement{NT: "upnp:rootdevice", USN: "uuid:1::upnp:rootdevice", Location: "http://127.0.0.1:1/d.xml", Server: "x/1", MaxAge: 90 * time.Second}
	var m ssdp.Message
	for _, c := range []struct {
		b    []byte
		kind ssdp.Kind
		typ  string
	}{
		{ssdp.AppendNotify(nil, ssdp.HostIPv4, ssdp.Alive, a), ssdp.Notify, a.NT},
		{ssdp.AppendNotify(nil, ssdp.HostIPv6, ssdp.Byebye, a), ssdp.Notify, a.NT},
		{ssdp.AppendResponse(nil, a), ssdp.Response, a.NT},
		{ssdp.AppendSearch(nil, ssdp.HostIPv4, "ssdp:all", 2), ssdp.Search, "ssdp:all"},
	} {
		if err := ssdp.Parse(&m, c.b); err != nil || m.Kind != c.kind || string(m.Type()) != c.typ {
			t.Errorf("%q: %v, %+v", c.b, err, m)
		}
		if c.kind != ssdp.Search && string(m.USN()) != a.USN {
			t.Errorf("%q: USN %q", c.b, m.USN())
		}
	}
	if err := ssdp.Parse(&m, ssdp.AppendNotify(nil, ssdp.HostIPv4, ssdp.Alive, a)); err != nil || string(m.Location()) != a.Location {
		t.Errorf("alive: %v, location %q", err, m.Location())
	}
	if age, ok := m.MaxAge(); !ok || age != a.MaxAge {
		t.Errorf("alive: max-age %v", age)
	}
}

func TestParseAllocs(t *testing.T) {
	var m ssdp.Message
	b := []byte(minidlnaNotify)
	n := testing.AllocsPerRun(100, func() {
		if err := ssdp.Parse(&m, b); err != nil {
			t.Fatal(err)
		}
		m.MaxAge()
		ssdp.UUID(m.USN())
	})
	if n != 0 {
		t.Errorf("Parse allocates %v times", n)
	}
}

// FuzzParse checks that Parse never panics, that what it accepts keeps
// within the limits, and that its views point into the input.
func FuzzParse(f *testing.F) {
	f.Add([]byte(minidlnaNotify))
	f.Add([]byte("HTTP/1.1 200 OK\r\nCACHE-CONTROL: max-age=1800\r\nST: ssdp:all\r\nUSN: uuid:a::b\r\n\r\n"))
	f.Add([]byte("M-SEARCH * HTTP/1.1\nMX: 1\n\n"))
	f.Add([]byte("NOTIFY * HTTP/1.1\r\nCache-Control: no-cache, max-age=\"7\"\r\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		var m ssdp.Message
		err := ssdp.Parse(&m, b)
		if err != nil {
			if !errors.Is(err, ssdp.ErrMalformed) {
				t.Fatalf("error %v does not wrap ErrMalformed", err)
			}
			return
		}
		if m.Kind < ssdp.Notify || m.Kind > ssdp.Response || len(m.Headers) > ssdp.MaxHeaders || len(b) > ssdp.MaxMessage {
			t.Fatalf("accepted %+v", m)
		}
		for _, h := range m.Headers {
			if len(h.Name) == 0 || len(h.Name)+len(h.Value) > ssdp.MaxLine || !bytes.Contains(b, h.Name) || !bytes.Contains(b, h.Value) {
				t.Fatalf("header %q: %q", h.Name, h.Value)
			}
		}
		if age, ok := m.MaxAge(); ok && age < 0 {
			t.Fatalf("max-age %v", age)
		}
		if u := ssdp.UUID(m.USN()); u != nil && !bytes.HasPrefix(bytes.ToLower(u), []byte("uuid:")) {
			t.Fatalf("uuid %q", u)
		}
	})
}
