package ssdp_test

import (
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/sharecast/sharecast/examples/discovery/ssdp"
)

var (
	dev1 = netip.MustParseAddr("10.0.0.1")
	dev2 = netip.MustParseAddr("10.0.0.2")
	t0   = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
)

func parse(t *testing.T, b []byte) *ssdp.Message {
	t.Helper()
	m := new(ssdp.Message)
	if err := ssdp.Parse(m, b); err != nil {
		t.Fatal(err)
	}
	return m
}

func ann(uuid, nt, loc string, age time.Duration) *ssdp.Announcement {
	usn := uuid
	if nt != uuid {
		usn += "::" + nt
	}
	return &ssdp.Announcement{NT: nt, USN: usn, Location: loc, Server: "test/1", MaxAge: age}
}

func TestTableLifecycle(t *testing.T) {
	tb, err := ssdp.NewTable(nil)
	if err != nil {
		t.Fatal(err)
	}
	root := ann("uuid:1", "upnp:rootdevice", "http://10.0.0.1/d.xml", time.Minute)
	cs, f, ok := tb.Update(nil, parse(t, ssdp.AppendNotify(nil, ssdp.HostIPv4, ssdp.Alive, root)), dev1, t0)
	if len(cs) != 1 || cs[0].Kind != ssdp.Added || cs[0].Why != "alive" || cs[0].Device.UUID != "uuid:1" || !ok ||
		f != (ssdp.Fetch{UUID: "uuid:1", Location: root.Location, Source: dev1}) {
		t.Fatalf("alive: %+v, fetch %+v %v", cs, f, ok)
	}
	// A second USN and a refresh: no change, no fetch.
	svc := ann("uuid:1", "urn:x:service:Y:1", root.Location, 2*time.Minute)
	cs, _, ok = tb.Update(nil, parse(t, ssdp.AppendResponse(nil, svc)), dev1, t0.Add(time.Second))
	if len(cs) != 0 || ok {
		t.Fatalf("second USN: %+v %v", cs, ok)
	}
	cs = tb.Describe(nil, f, &ssdp.Description{FriendlyName: "One"}, nil, t0)
	if len(cs) != 1 || cs[0].Kind != ssdp.Updated || cs[0].Device.Description.FriendlyName != "One" || len(cs[0].Device.USNs) != 2 {
		t.Fatalf("described: %+v", cs)
	}
	// A byebye from another address is ignored.
	bye := parse(t, ssdp.AppendNotify(nil, ssdp.HostIPv4, ssdp.Byebye, root))
	if cs, _, _ = tb.Update(nil, bye, dev2, t0); len(cs) != 0 || tb.Stats().ForeignByebye != 1 || tb.Stats().Devices != 1 {
		t.Fatalf("foreign byebye: %+v %+v", cs, tb.Stats())
	}
	// The root's max-age runs out first; the service's keeps the device.
	if cs = tb.Expire(nil, t0.Add(time.Minute)); len(cs) != 0 || tb.Stats().USNs != 1 {
		t.Fatalf("expire root: %+v %+v", cs, tb.Stats())
	}
	cs = tb.Expire(nil, t0.Add(time.Second+2*time.Minute))
	if len(cs) != 1 || cs[0].Kind != ssdp.Removed || cs[0].Why != "expired" || tb.Stats().Devices != 0 || tb.Stats().USNs != 0 {
		t.Fatalf("expire: %+v %+v", cs, tb.Stats())
	}

	// The root device's byebye removes the device with all its USNs.
	tb.Update(nil, parse(t, ssdp.AppendNotify(nil, ssdp.HostIPv4, ssdp.Alive, root)), dev1, t0)
	tb.Update(nil, parse(t, ssdp.AppendNotify(nil, ssdp.HostIPv4, ssdp.Alive, svc)), dev1, t0)
	cs, _, _ = tb.Update(nil, bye, dev1, t0)
	if len(cs) != 1 || cs[0].Kind != ssdp.Removed || cs[0].Why != "byebye" || tb.Stats().USNs != 0 {
		t.Fatalf("byebye: %+v %+v", cs, tb.Stats())
	}
	if cs, _, _ = tb.Update(nil, bye, dev1, t0); len(cs) != 0 || tb.Stats().UnknownByebye != 1 {
		t.Fatalf("second byebye: %+v %+v", cs, tb.Stats())
	}

	// A new LOCATION is a change and a fetch; ssdp:update does the same.
	tb.Update(nil, parse(t, ssdp.AppendNotify(nil, ssdp.HostIPv4, ssdp.Alive, root)), dev1, t0)
	moved := *root
	moved.Location = "http://10.0.0.1:2/d.xml"
	cs, f, ok = tb.Update(nil, parse(t, ssdp.AppendNotify(nil, ssdp.HostIPv4, ssdp.Alive, &moved)), dev1, t0)
	if len(cs) != 1 || cs[0].Why != "location" || !ok || f.Location != moved.Location {
		t.Fatalf("moved: %+v %+v", cs, f)
	}
	if cs = tb.Describe(nil, ssdp.Fetch{UUID: "uuid:1", Location: root.Location}, &ssdp.Description{}, nil, t0); len(cs) != 0 {
		t.Fatalf("a description of the old location taken: %+v", cs)
	}
	moved.Location = "http://10.0.0.1:3/d.xml"
	cs, f, ok = tb.Update(nil, parse(t, ssdp.AppendNotify(nil, ssdp.HostIPv4, ssdp.Update, &moved)), dev1, t0)
	if len(cs) != 1 || cs[0].Why != "location" || !ok || f.Location != moved.Location {
		t.Fatalf("update: %+v %+v", cs, f)
	}
}

func TestTableLimits(t *testing.T) {
	tb, err := ssdp.NewTable(&ssdp.TableConfig{MaxDevices: 3, MaxUSNs: 4, MaxAge: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	// 10 devices: the least recently heard are evicted.
	for i := range 10 {
		a := ann(fmt.Sprintf("uuid:%d", i), "upnp:rootdevice", "http://10.0.0.1/", 100*time.Hour)
		tb.Update(nil, parse(t, ssdp.AppendNotify(nil, ssdp.HostIPv4, ssdp.Alive, a)), dev1, t0.Add(time.Duration(i)*time.Second))
	}
	st := tb.Stats()
	if st.Devices != 3 || st.DevicesEvicted != 7 || st.Clamped != 10 || st.USNs != 3 {
		t.Fatalf("stats %+v", st)
	}
	ds := tb.Devices()
	if len(ds) != 3 || ds[0].UUID != "uuid:7" || ds[2].UUID != "uuid:9" || !ds[0].Expires.Equal(t0.Add(7*time.Second+time.Hour)) {
		t.Fatalf("devices %+v", ds)
	}
	// 1000 USNs for one device: 4 kept, the latest.
	for i := range 1000 {
		a := ann("uuid:9", fmt.Sprintf("urn:x:service:S%d:1", i), "http://10.0.0.1/", time.Minute)
		tb.Update(nil, parse(t, ssdp.AppendNotify(nil, ssdp.HostIPv4, ssdp.Alive, a)), dev1, t0.Add(time.Hour+time.Duration(i)*time.Millisecond))
	}
	st = tb.Stats()
	if st.Devices != 3 || st.USNs != 2+4 || st.USNsEvicted != 997 {
		t.Fatalf("stats %+v", st)
	}
	if ds = tb.Devices(); len(ds[2].USNs) != 4 || ds[2].USNs[0].USN != "uuid:9::urn:x:service:S996:1" {
		t.Fatalf("device %+v", ds[2])
	}
	// Ignored: no uuid, no location, an unknown NTS, a search.
	for _, b := range []string{
		"NOTIFY * HTTP/1.1\r\nNTS: ssdp:alive\r\nUSN: x\r\nLOCATION: http://a/\r\n\r\n",
		"NOTIFY * HTTP/1.1\r\nNTS: ssdp:alive\r\nUSN: uuid:z\r\n\r\n",
		"NOTIFY * HTTP/1.1\r\nNTS: ssdp:what\r\nUSN: uuid:z\r\nLOCATION: http://a/\r\n\r\n",
		"M-SEARCH * HTTP/1.1\r\nST: ssdp:all\r\n\r\n",
		"HTTP/1.1 404 Not Found\r\nUSN: uuid:z\r\nLOCATION: http://a/\r\n\r\n",
	} {
		if cs, _, ok := tb.Update(nil, parse(t, []byte(b)), dev1, t0); len(cs) != 0 || ok {
			t.Errorf("%q: %+v", b, cs)
		}
	}
	if st = tb.Stats(); st.NoUUID != 1 || st.NoLocation != 1 || st.BadNTS != 1 || st.Devices != 3 {
		t.Errorf("stats %+v", st)
	}
}

// TestTableRefreshAllocs: a refresh of a known USN, the steady state of a
// network, parses and updates the table without allocating.
func TestTableRefreshAllocs(t *testing.T) {
	tb, err := ssdp.NewTable(nil)
	if err != nil {
		t.Fatal(err)
	}
	b := []byte(minidlnaNotify)
	var m ssdp.Message
	var cs []ssdp.Change
	n := testing.AllocsPerRun(100, func() {
		if err := ssdp.Parse(&m, b); err != nil {
			t.Fatal(err)
		}
		cs, _, _ = tb.Update(cs[:0], &m, dev1, t0)
	})
	if n != 0 || tb.Stats().Devices != 1 {
		t.Errorf("%v allocations a refresh; stats %+v", n, tb.Stats())
	}
}
