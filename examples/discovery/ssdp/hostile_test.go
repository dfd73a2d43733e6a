package ssdp_test

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sharecast/sharecast/examples/discovery/ssdp"
	"github.com/sharecast/sharecast/internal/testbed"
)

// sendPaced sends each datagram to the IPv4 group on lo, waiting every
// 32 datagrams until the sockets on port 1900 have drained, so that the
// kernel drops none.
func sendPaced(t *testing.T, ms [][]byte) {
	t.Helper()
	s := testbed.NewSender(t, netip.AddrPortFrom(ssdp.GroupIPv4, ssdp.Port), nil, netip.Addr{})
	for i, m := range ms {
		if i%32 == 0 {
			if err := testbed.Pace(ssdp.Port, 256<<10, 10*time.Second); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.Send(m); err != nil {
			t.Fatal(err)
		}
	}
}

func alive(uuid, nt, loc string) []byte {
	usn := uuid
	if nt != uuid {
		usn += "::" + nt
	}
	return ssdp.AppendNotify(nil, ssdp.HostIPv4, ssdp.Alive, &ssdp.Announcement{NT: nt, USN: usn, Location: loc, Server: "flood/1", MaxAge: time.Hour})
}

// TestHostileMessages is issue 20's fifth acceptance criterion for the
// messages: malformed ones are counted by the rule they broke and change
// nothing; one device with thousands of USNs keeps 64; thousands of
// devices keep 256, and their description fetches are refused (their
// LOCATION is not on the sender's address) or dropped at the full queue,
// every one counted.
func TestHostileMessages(t *testing.T) {
	testbed.Require(t)
	var changes atomic.Int64
	a, _ := startAgent(t, ssdp.Config{Interfaces: []string{"lo"}, NoIPv6: true,
		OnChange: func(ssdp.Change) { changes.Add(1) }})

	var ms [][]byte
	add := func(n int, b []byte) {
		for range n {
			ms = append(ms, b)
		}
	}
	add(10, []byte("NOTIFY * HTTP/1.1"))                                                                     // no line end
	add(10, []byte("NOTIFY * HTTP/1.1\r\nX: "+strings.Repeat("y", 4000)+"\r\n\r\n"))                         // a huge header
	add(10, []byte("NOTIFY * HTTP/1.1\r\n"+strings.Repeat("X-Flood: 1\r\n", 500)+"\r\n"))                    // too many headers
	add(10, []byte("GET /evil HTTP/1.1\r\n\r\n"))                                                            // not SSDP
	add(10, []byte("NOTIFY * HTTP/1.1\r\nno colon here\r\n\r\n"))                                            // a bad header
	add(5, []byte("NOTIFY * HTTP/1.1\r\nX: "+strings.Repeat("y", 9000)+"\r\n\r\n"))                          // longer than the buffer
	add(3, []byte("NOTIFY * HTTP/1.1\r\nNTS: ssdp:alive\r\nUSN: not-a-uuid\r\nLOCATION: http://x/\r\n\r\n")) // ignored
	sendPaced(t, ms)
	st := waitStats(t, a, "the malformed messages", func(st ssdp.Stats) bool { return st.Multicast+st.Truncated == 58 })
	if st.Truncated != 5 || st.Malformed != 50 || st.NoLineEnd != 10 || st.TooLong != 10 || st.TooManyHeaders != 10 ||
		st.BadStartLine != 10 || st.BadHeader != 10 || st.NoUUID != 3 || st.Devices != 0 || changes.Load() != 0 {
		t.Errorf("stats %+v, %d changes", st, changes.Load())
	}

	// 5,000 USNs for one device.
	ms = ms[:0]
	for i := range 5000 {
		ms = append(ms, alive("uuid:flood", fmt.Sprintf("urn:flood:service:S%d:1", i), "http://127.0.0.1:9/d.xml"))
	}
	sendPaced(t, ms)
	st = waitStats(t, a, "5,000 USNs", func(st ssdp.Stats) bool { return st.Notifies == 3+5000 })
	if st.Devices != 1 || st.USNs != 64 || st.USNsEvicted != 5000-64 {
		t.Errorf("stats %+v", st)
	}

	// 3,000 devices, whose LOCATION names another host than the sender.
	ms = ms[:0]
	for i := range 3000 {
		ms = append(ms, alive(fmt.Sprintf("uuid:d%d", i), "upnp:rootdevice", "http://192.0.2.1/d.xml"))
	}
	sendPaced(t, ms)
	st = waitStats(t, a, "3,000 devices and their fetches", func(st ssdp.Stats) bool {
		return st.Notifies == 3+8000 && st.LocationsRefused+st.FetchesDropped == 3000
	})
	if st.Devices != 256 || st.DevicesEvicted != 3001-256 || st.USNs != 256 || st.Fetches != 0 {
		t.Errorf("stats %+v", st)
	}
	if ds := a.Devices(); len(ds) != 256 || ds[0].UUID != "uuid:d2744" {
		t.Errorf("%d devices, the first %+v", len(ds), ds[0])
	}
	t.Logf("stats %+v", st)
}

// trickle serves HTTP on 127.0.0.1: /slow answers a byte every 50 ms
// without end, /silent never answers, /huge sends 256 MiB, /big says its
// body is 100 MB. It reports how many bytes /huge wrote before the client
// hung up.
func trickle(t *testing.T) (base string, hugeWritten *atomic.Int64) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	t.Cleanup(func() { close(stop); l.Close() })
	hugeWritten = new(atomic.Int64)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				req, err := http.ReadRequest(bufio.NewReader(c))
				if err != nil {
					return
				}
				switch req.URL.Path {
				case "/slow":
					c.Write([]byte("HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\n\r\n<root>"))
					for {
						select {
						case <-stop:
							return
						case <-time.After(50 * time.Millisecond): // the trickle's pace
						}
						if _, err := c.Write([]byte(" ")); err != nil {
							return
						}
					}
				case "/silent":
					<-stop
				case "/huge":
					c.Write([]byte("HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\n\r\n<root>"))
					chunk := []byte(strings.Repeat("<x>huge</x>", 1000))
					for n := 0; n < 256<<20; n += len(chunk) {
						if _, err := c.Write(chunk); err != nil {
							return
						}
						hugeWritten.Add(int64(len(chunk)))
					}
				case "/big":
					c.Write([]byte("HTTP/1.1 200 OK\r\nContent-Length: 100000000\r\n\r\n<root>"))
					<-stop
				}
			}()
		}
	}()
	return "http://" + l.Addr().String(), hugeWritten
}

// TestHostileLocations is issue 20's fifth acceptance criterion for the
// descriptions: a LOCATION whose server answers slowly, never, or with
// far too much is given up on (timeout, size limit), counted, and leaves
// the device in the table without a description.
func TestHostileLocations(t *testing.T) {
	testbed.Require(t)
	base, hugeWritten := trickle(t)
	a, changes := startAgent(t, ssdp.Config{Interfaces: []string{"lo"}, NoIPv6: true,
		Fetch: ssdp.FetchConfig{Timeout: 2 * time.Second}})
	paths := []string{"/slow", "/silent", "/huge", "/big"}
	var ms [][]byte
	for _, p := range paths {
		ms = append(ms, alive("uuid:"+p[1:], "upnp:rootdevice", base+p))
	}
	sendPaced(t, ms)
	errs := map[string]string{}
	for range paths {
		c := <-changes
		for c.Why != "description" {
			c = <-changes
		}
		if c.Device.Description != nil || c.Device.DescriptionError == "" {
			t.Errorf("%s: %+v", c.Device.UUID, c.Device)
		}
		errs[c.Device.UUID] = c.Device.DescriptionError
		t.Logf("%s: %s", c.Device.UUID, c.Device.DescriptionError)
	}
	for _, uuid := range []string{"uuid:huge", "uuid:big"} {
		if !strings.Contains(errs[uuid], ssdp.ErrDescriptionTooLarge.Error()) {
			t.Errorf("%s: %q", uuid, errs[uuid])
		}
	}
	for _, uuid := range []string{"uuid:slow", "uuid:silent"} {
		if !strings.Contains(errs[uuid], ssdp.ErrFetchTimeout.Error()) {
			t.Errorf("%s: %q", uuid, errs[uuid])
		}
	}
	st := a.Stats()
	if st.Devices != 4 || st.FetchErrors != 4 || st.TooLarge != 2 || st.FetchTimeouts != 2 || st.Fetches != 0 {
		t.Errorf("stats %+v", st)
	}
	// The agent read at most its limit; the server's writes stopped when
	// the connection closed, far short of the 256 MiB.
	if n := hugeWritten.Load(); n >= 256<<20 {
		t.Errorf("/huge wrote all %d bytes", n)
	}
}
