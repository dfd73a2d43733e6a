package soup_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/sharecast/sharecast/examples/marketdata/feedgen"
	"github.com/sharecast/sharecast/examples/marketdata/rewind"
	"github.com/sharecast/sharecast/examples/marketdata/soup"
	"github.com/sharecast/sharecast/internal/moldudp64"
)

var sess = moldudp64.MustParseSession("SOUP")

func fill(st *rewind.Store, first, last uint64, holes ...uint64) {
	for s := first; s <= last; s++ {
		skip := false
		for _, h := range holes {
			skip = skip || h == s
		}
		if !skip {
			st.Add(sess, s, feedgen.AppendMessage(nil, s, 8+int(s%30)))
		}
	}
}

// serve runs a Server on 127.0.0.1 until the test ends.
func serve(t *testing.T, cfg *soup.Config) *soup.Server {
	t.Helper()
	s, err := soup.Listen("127.0.0.1:0", cfg)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(context.Background()) }()
	t.Cleanup(func() {
		s.Close()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	return s
}

type client struct {
	t    *testing.T
	conn net.Conn
}

func dial(t *testing.T, s *soup.Server) *client {
	t.Helper()
	conn, err := net.Dial("tcp", s.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return &client{t: t, conn: conn}
}

func (c *client) login(l soup.Login) {
	c.t.Helper()
	if _, err := c.conn.Write(soup.AppendLogin(nil, l)); err != nil {
		c.t.Fatal(err)
	}
}

// next reads one packet, or returns io.EOF once the server has closed.
func (c *client) next() (byte, []byte, error) {
	c.t.Helper()
	c.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	var hdr [2]byte
	if _, err := io.ReadFull(c.conn, hdr[:]); err != nil {
		return 0, nil, err
	}
	b := make([]byte, binary.BigEndian.Uint16(hdr[:]))
	if _, err := io.ReadFull(c.conn, b); err != nil {
		c.t.Fatal(err)
	}
	return b[0], b[1:], nil
}

// closed reports whether err says the server closed the connection.
func closed(err error) bool { return errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET) }

func (c *client) expect(typ byte) []byte {
	c.t.Helper()
	got, p, err := c.next()
	if err != nil || got != typ {
		c.t.Fatalf("got %q %q (%v), want %q", got, p, err, typ)
	}
	return p
}

// TestServe: a login at 50 gets 50-100 from the Store, then 101-105 as
// they come (heartbeats while waiting), then the end of session.
func TestServe(t *testing.T) {
	st := rewind.NewStore(nil)
	fill(st, 1, 100)
	s := serve(t, &soup.Config{Store: st, Heartbeat: 5 * time.Millisecond})
	c := dial(t, s)
	c.login(soup.Login{Username: "me", Session: sess, Seq: 50})
	if p := c.expect(soup.TypeLoginAccepted); string(p) != "SOUP      "+"                  50" {
		t.Fatalf("login accepted %q", p)
	}
	seq := uint64(50)
	recv := func(last uint64) {
		for seq <= last {
			typ, p, err := c.next()
			if err != nil {
				t.Fatal(err)
			}
			if typ == soup.TypeHeartbeat {
				continue
			}
			if typ != soup.TypeSequenced {
				t.Fatalf("got %q at %d", typ, seq)
			}
			if err := feedgen.CheckMessage(seq, p); err != nil {
				t.Fatal(err)
			}
			seq++
		}
	}
	recv(100)
	// Caught up: the server sends heartbeats until more comes.
	c.expect(soup.TypeHeartbeat)
	fill(st, 101, 105)
	recv(105)
	st.End(sess, 106)
	for {
		typ, _, err := c.next()
		if err != nil {
			t.Fatal(err)
		}
		if typ == soup.TypeEndOfSession {
			break
		}
		if typ != soup.TypeHeartbeat {
			t.Fatalf("got %q, want the end of session", typ)
		}
	}
	if _, _, err := c.next(); !closed(err) {
		t.Fatalf("after the end: %v", err)
	}
	if ss := s.Stats(); ss.Logins != 1 || ss.Messages != 56 || ss.Ends != 1 || ss.Heartbeats == 0 {
		t.Errorf("stats %+v", ss)
	}
}

// TestRefusals: wrong credentials, another session, a first packet that
// is not a login, an oversized packet, a gap, too many clients.
func TestRefusals(t *testing.T) {
	st := rewind.NewStore(nil)
	fill(st, 1, 20, 10)
	s := serve(t, &soup.Config{Store: st, Username: "me", Password: "pw", MaxClients: 2})

	c := dial(t, s)
	c.login(soup.Login{Username: "me", Password: "no", Session: sess, Seq: 1})
	if p := c.expect(soup.TypeLoginRejected); string(p) != "A" {
		t.Errorf("bad password: %q", p)
	}
	c = dial(t, s)
	c.login(soup.Login{Username: "me", Password: "pw", Session: moldudp64.MustParseSession("OTHER"), Seq: 1})
	if p := c.expect(soup.TypeLoginRejected); string(p) != "S" {
		t.Errorf("other session: %q", p)
	}
	for _, junk := range [][]byte{{0, 1, 'R'}, {0xFF, 0xFF, 'L'}, {0, 3, 'L', '1', '2'}} {
		c = dial(t, s)
		c.conn.Write(junk)
		if typ, p, err := c.next(); !closed(err) {
			t.Errorf("%q: got %q %q, %v; want the connection closed", junk, typ, p, err)
		}
	}
	// A blank session means the current one; the hole at 10 ends it.
	c = dial(t, s)
	c.login(soup.Login{Username: "me", Password: "pw", Seq: 8})
	c.expect(soup.TypeLoginAccepted)
	for seq := uint64(8); seq < 10; seq++ {
		if err := feedgen.CheckMessage(seq, c.expect(soup.TypeSequenced)); err != nil {
			t.Fatal(err)
		}
	}
	c.expect(soup.TypeDebug)
	if _, _, err := c.next(); !closed(err) {
		t.Fatalf("after the gap: %v", err)
	}
	// Two clients at most: the third is closed at once. The server
	// forgets a connection it closed just after closing it; nothing
	// signals that, so wait (bounded) until none is counted open.
	for deadline := time.Now().Add(10 * time.Second); s.Stats().Active != 0 && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond) // polling: no signal for a connection's end
	}
	c1, c2 := dial(t, s), dial(t, s)
	for _, c := range []*client{c1, c2} {
		c.login(soup.Login{Username: "me", Password: "pw", Seq: 15})
		c.expect(soup.TypeLoginAccepted)
	}
	c3 := dial(t, s)
	if _, _, err := c3.next(); !closed(err) {
		t.Errorf("third client: %v, want the connection closed", err)
	}
	ss := s.Stats()
	if ss.Rejected != 2 || ss.Malformed != 3 || ss.Gaps != 1 || ss.Refused != 1 {
		t.Errorf("stats %+v", ss)
	}
}

// FuzzParseLogin: never panics; what it accepts re-encodes to a login it
// reads back the same.
func FuzzParseLogin(f *testing.F) {
	f.Add(soup.AppendLogin(nil, soup.Login{Username: "u", Password: "p", Session: sess, Seq: 7})[3:])
	f.Add(bytes.Repeat([]byte{' '}, soup.LoginLen))
	f.Add([]byte("short"))
	f.Fuzz(func(t *testing.T, b []byte) {
		l, err := soup.ParseLogin(b)
		if err != nil {
			if !errors.Is(err, soup.ErrMalformed) {
				t.Fatalf("error %v", err)
			}
			return
		}
		again, err := soup.ParseLogin(soup.AppendLogin(nil, l)[3:])
		if err != nil || again != l {
			if len(l.Username) <= 6 && len(l.Password) <= 10 {
				t.Fatalf("%+v re-read as %+v, %v", l, again, err)
			}
		}
	})
}
