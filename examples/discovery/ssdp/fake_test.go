package ssdp_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sharecast/sharecast/examples/discovery/ssdp"
	"github.com/sharecast/sharecast/internal/testbed"
	"github.com/sharecast/sharecast/mcast"
)

// fakeDevice is a UPnP root device on lo: it serves its description over
// HTTP on the loopback address of its family, announces itself on the
// SSDP group, and answers searches by unicast from a socket of its own,
// as minidlna does.
type fakeDevice struct {
	uuid, loc string
	nts       []string // its NTs: the root device, the uuid, a service
	host      string
	notify    *mcast.Sender
	reply     *net.UDPConn
	answered  atomic.Int64
}

const fakeDescription = `<?xml version="1.0"?>
<root xmlns="urn:schemas-upnp-org:device-1-0"><specVersion><major>1</major><minor>0</minor></specVersion>
<device><deviceType>urn:schemas-upnp-org:device:MediaServer:1</deviceType><friendlyName>%s</friendlyName>
<manufacturer>sharecast</manufacturer><modelName>fake</modelName><modelNumber>1</modelNumber><UDN>%s</UDN>
<serviceList><service><serviceType>urn:schemas-upnp-org:service:ContentDirectory:1</serviceType></service></serviceList>
</device></root>`

// newFakeDevice starts a device on the group g (IPv4 or IPv6) of lo; it
// listens on port 1900 beside the agent.
func newFakeDevice(t *testing.T, g netip.Addr, uuid, name string) *fakeDevice {
	t.Helper()
	network, loopback, host := "udp4", "127.0.0.1", ssdp.HostIPv4
	if g.Is6() {
		network, loopback, host = "udp6", "::1", ssdp.HostIPv6
	}
	l, err := net.Listen("tcp", net.JoinHostPort(loopback, "0"))
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, fakeDescription, name, uuid)
	}))
	hs.Listener.Close()
	hs.Listener = l
	hs.Start()
	t.Cleanup(hs.Close)
	d := &fakeDevice{uuid: uuid, loc: hs.URL + "/desc.xml", host: host,
		nts: []string{"upnp:rootdevice", uuid, "urn:schemas-upnp-org:service:ContentDirectory:1"}}
	d.notify = testbed.NewSender(t, netip.AddrPortFrom(g, ssdp.Port), nil, netip.Addr{})
	if d.reply, err = net.ListenUDP(network, nil); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.reply.Close() })
	ln := listenShared(t, g)
	go d.answer(ln)
	return d
}

// listenShared opens a socket on port 1900, shared, joined to g on lo.
func listenShared(t *testing.T, g netip.Addr) *mcast.Conn {
	t.Helper()
	network := "udp4"
	if g.Is6() {
		network = "udp6"
	}
	c, err := mcast.Listen(context.Background(), network, ":1900", &mcast.Config{ReadBuffer: -1, AcceptUnicast: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	lo, err := mcast.LoopbackInterface()
	if err != nil {
		t.Fatal(err)
	}
	if err := c.JoinGroup(lo, g); err != nil {
		t.Fatal(err)
	}
	return c
}

func (d *fakeDevice) announcement(nt string) *ssdp.Announcement {
	usn := d.uuid
	if nt != d.uuid {
		usn += "::" + nt
	}
	return &ssdp.Announcement{NT: nt, USN: usn, Location: d.loc, Server: "Linux/1 UPnP/1.0 fake/1", MaxAge: 1800 * time.Second}
}

// send sends a NOTIFY with nts for each of its NTs.
func (d *fakeDevice) send(t *testing.T, nts string) {
	t.Helper()
	for _, nt := range d.nts {
		if err := d.notify.Send(ssdp.AppendNotify(nil, d.host, nts, d.announcement(nt))); err != nil {
			t.Fatal(err)
		}
	}
}

// answer answers each M-SEARCH that reaches c: every NT for ssdp:all, or
// the one asked for.
func (d *fakeDevice) answer(c *mcast.Conn) {
	b := make([]byte, 9000)
	var m ssdp.Message
	for {
		n, src, err := c.UDPConn().ReadFromUDPAddrPort(b)
		if err != nil {
			return
		}
		if ssdp.Parse(&m, b[:n]) != nil || m.Kind != ssdp.Search {
			continue
		}
		st := string(m.ST())
		for _, nt := range d.nts {
			if st == ssdp.SearchAll || st == nt {
				d.reply.WriteToUDPAddrPort(ssdp.AppendResponse(nil, d.announcement(nt)), src)
				d.answered.Add(1)
			}
		}
	}
}

// startAgent starts an agent with cfg and returns it and its changes
// (none if cfg sets OnChange).
func startAgent(t *testing.T, cfg ssdp.Config) (*ssdp.Agent, <-chan ssdp.Change) {
	t.Helper()
	ch := make(chan ssdp.Change, 4096)
	if cfg.OnChange == nil {
		cfg.OnChange = func(c ssdp.Change) {
			select {
			case ch <- c:
			default:
				t.Errorf("change channel full; %+v lost", c)
			}
		}
	}
	a, err := ssdp.New(context.Background(), &cfg)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- a.Run(context.Background()) }()
	t.Cleanup(func() {
		if err := a.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("Run did not return 10 s after Close")
		}
	})
	return a, ch
}

// waitChange waits for a change of kind (and why, if not empty) to the
// device uuid, and returns it; other changes are skipped.
func waitChange(t *testing.T, ch <-chan ssdp.Change, kind ssdp.ChangeKind, why, uuid string, d time.Duration) ssdp.Change {
	t.Helper()
	timeout := time.After(d)
	for {
		select {
		case c := <-ch:
			t.Logf("change: %v %s %s %s", c.Kind, c.Why, c.Device.UUID, c.Device.Location)
			if c.Kind == kind && (why == "" || c.Why == why) && c.Device.UUID == uuid {
				return c
			}
		case <-timeout:
			t.Fatalf("no %v (%s) of %s within %v", kind, why, uuid, d)
		}
	}
}

// waitStats waits until cond holds for the agent's counters.
func waitStats(t *testing.T, a *ssdp.Agent, what string, cond func(ssdp.Stats) bool) ssdp.Stats {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		st := a.Stats()
		if cond(st) {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 20 s; stats %+v", what, st)
		}
		time.Sleep(5 * time.Millisecond) // polls the counters; no timing is asserted
	}
}

// listenHelper is a second program on port 1900 (the helper process
// "ssdp-listen"): it shares the port, joins the group on the interface
// args[0], and prints a line for each NOTIFY ("notify USN") and each
// search response ("answer SOURCE USN") that reaches it.
func listenHelper(args []string) int {
	c, err := mcast.Listen(context.Background(), "udp4", ":1900", &mcast.Config{AcceptUnicast: true, ReadBuffer: -1})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	ifi, err := net.InterfaceByName(args[0])
	if err == nil {
		err = c.JoinGroup(ifi, ssdp.GroupIPv4)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Println("ready")
	b := make([]byte, ssdp.MaxMessage)
	var m ssdp.Message
	for {
		n, src, err := c.UDPConn().ReadFromUDPAddrPort(b)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		if ssdp.Parse(&m, b[:n]) != nil {
			continue
		}
		switch m.Kind {
		case ssdp.Notify:
			fmt.Printf("notify %s %s\n", m.NTS(), m.USN())
		case ssdp.Response:
			fmt.Printf("answer %s %s\n", src, m.USN())
		}
	}
}
