package cli_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/sharecast/sharecast/examples/discovery/internal/cli"
	"github.com/sharecast/sharecast/examples/discovery/ssdp"
	"github.com/sharecast/sharecast/internal/extest"
	"github.com/sharecast/sharecast/internal/testbed"
)

// TestSSDP runs the program with -ssdp on lo, with JSON output and the
// table at the end, announces a device to it and reads the change, the
// table and the counters back.
func TestSSDP(t *testing.T) {
	testbed.Require(t)
	out, errb := new(extest.Buffer), new(extest.Buffer)
	done := make(chan error, 1)
	go func() {
		done <- cli.Run(context.Background(), []string{"-ssdp", "-i", "lo", "-no-ipv6", "-format", "json", "-table", "-duration", "2s",
			"-search", "ssdp:all", "-no-fetch"}, out, errb)
	}()
	waitFor(t, errb, func(s string) bool { return strings.Contains(s, "listening on 239.255.255.250:1900%lo") })
	if !strings.Contains(errb.String(), "; searching from 0.0.0.0:") {
		t.Errorf("stderr: %s", errb.String())
	}
	a := &ssdp.Announcement{NT: "upnp:rootdevice", USN: "uuid:cli::upnp:rootdevice", Location: "http://127.0.0.1:1/d.xml", Server: "t/1", MaxAge: time.Minute}
	if err := testbed.NewSender(t, netip.AddrPortFrom(ssdp.GroupIPv4, ssdp.Port), nil, netip.Addr{}).Send(ssdp.AppendNotify(nil, ssdp.HostIPv4, ssdp.Alive, a)); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("%v\n%s", err, errb.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no end after -duration")
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("output %q, want a change and the table", out.String())
	}
	var c struct {
		Event, Why string
		Device     struct{ UUID, Location string }
	}
	if err := json.Unmarshal([]byte(lines[0]), &c); err != nil || c.Event != "added" || c.Why != "alive" || c.Device.UUID != "uuid:cli" || c.Device.Location != a.Location {
		t.Errorf("change %s: %+v, %v", lines[0], c, err)
	}
	if !strings.HasPrefix(lines[1], `{"table":[{"uuid":"uuid:cli"`) {
		t.Errorf("table %s", lines[1])
	}
	// Its own search, looped back, is not counted as another's.
	if !strings.Contains(errb.String(), "1 NOTIFY, 0 M-SEARCH from others, 0 answers that reached port 1900") ||
		!strings.Contains(errb.String(), "table: 1 devices, 1 USNs") {
		t.Errorf("counters: %s", errb.String())
	}
}

// TestSSDPFullOutput: output that cannot be written is an error.
func TestSSDPFullOutput(t *testing.T) {
	testbed.Require(t)
	errb := new(extest.Buffer)
	done := make(chan error, 1)
	go func() {
		done <- cli.Run(context.Background(), []string{"-ssdp", "-i", "lo", "-no-ipv6", "-duration", "10s", "-no-fetch"}, failWriter{}, errb)
	}()
	waitFor(t, errb, func(s string) bool { return strings.Contains(s, "listening on") })
	a := &ssdp.Announcement{NT: "upnp:rootdevice", USN: "uuid:full::upnp:rootdevice", Location: "http://127.0.0.1:1/d.xml", MaxAge: time.Minute}
	if err := testbed.NewSender(t, netip.AddrPortFrom(ssdp.GroupIPv4, ssdp.Port), nil, netip.Addr{}).Send(ssdp.AppendNotify(nil, ssdp.HostIPv4, ssdp.Alive, a)); err != nil {
		t.Fatal(err)
	}
	if err := <-done; !errors.Is(err, errFull) {
		t.Errorf("Run: %v, want the write error", err)
	}
}

var errFull = errors.New("no space left on device")

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errFull }

func TestSSDPUsage(t *testing.T) {
	var out, errb strings.Builder
	for _, args := range [][]string{{"-ssdp", "-query", "_x._tcp"}, {"-search", "ssdp:all"}, {"-ssdp", "-mx", "9"}, {"-shared-search"}} {
		if err := cli.Run(context.Background(), args, &out, &errb); err == nil {
			t.Errorf("%q: no error", args)
		}
	}
}
