package mdns_test

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sharecast/sharecast/examples/discovery/internal/proctest"
	"github.com/sharecast/sharecast/examples/discovery/mdns"
	"github.com/sharecast/sharecast/internal/extest"
	"github.com/sharecast/sharecast/internal/testbed"
)

// avahi is a real avahi-daemon, with a D-Bus system bus of its own, running
// in the test's network namespace on one interface.
type avahi struct {
	busAddr string
	dir     string
}

const busConfig = `<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:path=%s</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <allow own="*"/>
    <allow send_destination="*"/>
    <allow receive_sender="*"/>
  </policy>
</busconfig>
`

const avahiConfig = `[server]
host-name=sharecast-test
domain-name=local
use-ipv4=yes
use-ipv6=yes
allow-interfaces=%s
enable-dbus=yes
ratelimit-interval-usec=1000000
ratelimit-burst=1000
[wide-area]
enable-wide-area=no
[publish]
publish-hinfo=no
publish-workstation=no
[reflector]
[rlimits]
`

// startAvahi starts a D-Bus daemon and avahi-daemon on interface ifname,
// and stops them when the test ends. avahi-daemon writes its pid file and
// socket under /run/avahi-daemon; it runs in a mount namespace of its own
// (util-linux's unshare) with a fresh tmpfs on /run, so that it neither
// touches nor meets the host's.
func startAvahi(t *testing.T, ifname string) *avahi {
	t.Helper()
	dbusDaemon := extest.RequireCommand(t, "dbus-daemon", "dbus-daemon")
	avahiDaemon := extest.RequireCommand(t, "avahi-daemon", "avahi-daemon")
	extest.RequireCommand(t, "avahi-publish", "avahi-utils")
	unshare := extest.RequireCommand(t, "unshare", "util-linux")
	if os.Geteuid() != 0 || !testbed.RealRoot() {
		if os.Getenv("CI") != "" {
			t.Fatal("avahi-daemon needs root")
		}
		t.Skip("avahi-daemon needs root")
	}
	dir, err := os.MkdirTemp("", "sharecast-avahi-") // short: unix socket paths are limited
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	av := &avahi{dir: dir, busAddr: "unix:path=" + filepath.Join(dir, "bus")}
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	busConf := write("bus.conf", fmt.Sprintf(busConfig, filepath.Join(dir, "bus")))
	avahiConf := write("avahi-daemon.conf", fmt.Sprintf(avahiConfig, ifname))

	dbus := exec.Command(dbusDaemon, "--nofork", "--nopidfile", "--print-address", "--config-file="+busConf)
	_, ready := proctest.Start(t, "dbus-daemon", dbus, "unix:", nil)
	proctest.WaitLine(t, "dbus-daemon", ready, 10*time.Second)

	daemon := exec.Command(unshare, "--mount", "--propagation", "private", "sh", "-c",
		`mount -t tmpfs tmpfs /run && exec "$0" --no-drop-root --no-chroot --no-rlimits --no-proc-title -f "$1"`,
		avahiDaemon, avahiConf)
	daemon.Env = av.env()
	_, ready = proctest.Start(t, "avahi-daemon", daemon, "Server startup complete", nil)
	proctest.WaitLine(t, "avahi-daemon", ready, 20*time.Second)
	return av
}

func (av *avahi) env() []string {
	return append(os.Environ(), "DBUS_SYSTEM_BUS_ADDRESS="+av.busAddr)
}

// publish runs avahi-publish for a service until withdraw is called (or
// the test ends).
func (av *avahi) publish(t *testing.T, args ...string) (withdraw func()) {
	t.Helper()
	cmd := exec.Command("avahi-publish", append([]string{"-s"}, args...)...)
	cmd.Env = av.env()
	p, ready := proctest.Start(t, "avahi-publish", cmd, "Established under name", nil)
	proctest.WaitLine(t, "avahi-publish", ready, 20*time.Second)
	return func() { p.Stop(t) }
}

// link makes the interface avahi and the agent share: a veth pair whose
// other end is in a host of its own, so that multicast goes out of a real
// link and loops back to the sockets of this namespace.
func link(t *testing.T) string {
	t.Helper()
	peer := testbed.NewHost(t, "peer")
	testbed.Veth(t, nil, "mdns0", netip.MustParsePrefix("10.77.0.1/24"), peer, "mdns1", netip.MustParsePrefix("10.77.0.2/24"))
	return "mdns0"
}

// TestAvahi is issue 6's second acceptance criterion: a real avahi-daemon
// runs in the test's namespace on port 5353, the agent runs at the same
// time on the same port, a service published with avahi-publish appears in
// the agent's table with its host, port, TXT and address, and once it is
// withdrawn (avahi sends goodbye packets, TTL 0) it disappears. A second
// agent, started after the announcement, learns the service by sending a
// query and hearing avahi's answer.
func TestAvahi(t *testing.T) {
	testbed.Require(t)
	ifname := link(t)
	av := startAvahi(t, ifname)
	a, changes := startAgent(t, ifname)

	// Both are bound to 5353, sharing it.
	socks, err := testbed.UDPSockets(mdns.Port)
	if err != nil {
		t.Fatal(err)
	}
	if len(socks) < 3 { // avahi's IPv4 (and IPv6) socket, the agent's two
		t.Errorf("%d sockets on port 5353, want avahi's and the agent's: %+v", len(socks), socks)
	}

	withdraw := av.publish(t, "Sharecast Test", "_sharecast-test._tcp", "1234", "txt=1", "path=/x")
	const instance = `Sharecast\ Test._sharecast-test._tcp.local.`
	s := waitChange(t, changes, mdns.Added, instance, 15*time.Second)
	// SRV, TXT and A may come in the same packet as the PTR, or after it.
	deadline := time.Now().Add(10 * time.Second)
	for !complete(s) && time.Now().Before(deadline) {
		s = waitChange(t, changes, mdns.Updated, instance, time.Until(deadline))
	}
	if s.Name != "Sharecast Test" || s.Type != "_sharecast-test._tcp" || s.Domain != "local" ||
		s.Host != "sharecast-test.local." || s.Port != 1234 || !slices.Equal(s.TXT, []string{"path=/x", "txt=1"}) && !slices.Equal(s.TXT, []string{"txt=1", "path=/x"}) ||
		!slices.Contains(s.Addrs, netip.MustParseAddr("10.77.0.1")) {
		t.Errorf("service %+v", s)
	}
	if got := a.Services(); len(got) != 1 || got[0].Instance != instance {
		t.Errorf("Services() = %+v", got)
	}

	// A second agent hears of the service by asking.
	b, bchanges := startAgent(t, ifname)
	if err := b.Query("_sharecast-test._tcp"); err != nil {
		t.Fatal(err)
	}
	waitChange(t, bchanges, mdns.Added, instance, 10*time.Second)

	withdraw()
	waitChange(t, changes, mdns.Removed, instance, 10*time.Second)
	if got := a.Services(); len(got) != 0 {
		t.Errorf("Services() after the goodbye = %+v", got)
	}
	if st := a.Stats(); st.Packets == 0 || st.Malformed != 0 {
		t.Errorf("stats %+v", st)
	}
}

func complete(s mdns.Service) bool {
	return s.Port != 0 && len(s.TXT) > 0 && slices.ContainsFunc(s.Addrs, netip.Addr.Is4)
}

// browse runs avahi-browse with args (-p, parsable, is added) until it
// exits or the test ends.
func (av *avahi) browse(t *testing.T, marker string, args ...string) (*proctest.Process, <-chan string) {
	t.Helper()
	cmd := exec.Command("avahi-browse", append([]string{"-p"}, args...)...)
	cmd.Env = av.env()
	return proctest.Start(t, "avahi-browse", cmd, marker, nil)
}

// avahiEscape escapes name as avahi-browse -p prints it: dots and
// backslashes with a backslash, other bytes but letters, digits, - and _
// as \DDD.
func avahiEscape(name string) string {
	var b strings.Builder
	for i := 0; i < len(name); i++ {
		switch c := name[i]; {
		case c == '.' || c == '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		case c == '-' || c == '_' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z':
			b.WriteByte(c)
		default:
			fmt.Fprintf(&b, "\\%03d", c)
		}
	}
	return b.String()
}

// resolved returns the resolved ("=") lines of avahi-browse -p for the
// IPv4 instance name.
func resolved(lines []string, name string) [][]string {
	var out [][]string
	for _, l := range lines {
		f := strings.Split(l, ";")
		if len(f) >= 10 && f[0] == "=" && f[2] == "IPv4" && f[3] == avahiEscape(name) {
			out = append(out, f)
		}
	}
	return out
}

// TestAvahiPublish is issue 20's fourth acceptance criterion: the agent
// publishes a service beside a real avahi-daemon, on the same port;
// avahi-browse -rpt resolves it (name, port, TXT, address); a second
// agent finds it; when the agent stops, avahi-browse sees it removed
// (the goodbyes); and publishing a name that avahi already announces
// ends in a renamed service, not two owners of one name.
func TestAvahiPublish(t *testing.T) {
	testbed.Require(t)
	ifname := link(t)
	av := startAvahi(t, ifname)
	a, _ := startAgent(t, ifname)
	ev := publish(t, a, mdns.Publication{Name: "Sharecast Pub", Type: "_sharecast-pub._tcp", Port: 5678, TXT: []string{"txt=1", "path=/p"}, Host: "sharecast-agent"})
	waitEvent(t, ev, mdns.Established)

	// A browser that stays, to see the removal later, and one that
	// dumps what it resolved and ends.
	watch, seen := av.browse(t, "=;"+ifname+";IPv4;"+avahiEscape("Sharecast Pub")+";", "-r", "_sharecast-pub._tcp")
	proctest.WaitLine(t, "avahi-browse", seen, 20*time.Second)
	p, _ := av.browse(t, "", "-rt", "_sharecast-pub._tcp")
	select {
	case <-p.Done():
	case <-time.After(30 * time.Second):
		t.Fatal("avahi-browse -rpt did not end")
	}
	got := resolved(p.Lines(), "Sharecast Pub")
	// The address avahi resolved: either of the interface's (avahi takes
	// an A or an AAAA record, whichever comes first).
	if len(got) != 1 || got[0][6] != "sharecast-agent.local" || !slices.Contains(ifaceAddrs(t, ifname), got[0][7]) || got[0][8] != "5678" ||
		got[0][9] != `"path=/p" "txt=1"` && got[0][9] != `"txt=1" "path=/p"` {
		t.Errorf("avahi-browse -rpt resolved %q", got)
	}

	// A second agent finds it by asking.
	// It asks again while no answer comes, as queriers do (RFC 6762
	// section 5.2): the responder multicasts a record at most once a
	// second on an interface, and avahi-browse asked just before.
	b, bchanges := startAgent(t, ifname)
	var s mdns.Service
	for i := 0; ; i++ {
		if err := b.Query("_sharecast-pub._tcp"); err != nil {
			t.Fatal(err)
		}
		if c, ok := nextChange(bchanges, mdns.Added, `Sharecast\ Pub._sharecast-pub._tcp.local.`, 2*time.Second); ok {
			s = c
			break
		}
		if i == 5 {
			t.Fatal("the second agent did not find the service")
		}
	}
	for !complete(s) {
		s = waitChange(t, bchanges, mdns.Updated, `Sharecast\ Pub._sharecast-pub._tcp.local.`, 10*time.Second)
	}
	if s.Port != 5678 || s.Host != "sharecast-agent.local." || !slices.Contains(s.Addrs, netip.MustParseAddr("10.77.0.1")) {
		t.Errorf("second agent: %+v", s)
	}

	// Stopping sends the goodbyes: avahi-browse sees the service go.
	removed := make(chan struct{})
	go func() {
		defer close(removed)
		for {
			if slices.ContainsFunc(watch.Lines(), func(l string) bool {
				return strings.HasPrefix(l, "-;"+ifname+";IPv4;"+avahiEscape("Sharecast Pub")+";")
			}) {
				return
			}
			select {
			case <-watch.Done():
				return
			case <-time.After(10 * time.Millisecond): // polls the lines
			}
		}
	}()
	if err := a.Unpublish(context.Background()); err != nil {
		t.Fatal(err)
	}
	select {
	case <-removed:
	case <-time.After(20 * time.Second):
		t.Fatalf("avahi-browse did not see the service removed:\n%s", strings.Join(watch.Lines(), "\n"))
	}
	if !slices.ContainsFunc(watch.Lines(), func(l string) bool {
		return strings.HasPrefix(l, "-;"+ifname+";IPv4;"+avahiEscape("Sharecast Pub")+";")
	}) {
		t.Errorf("avahi-browse exited without the removal")
	}

	// A name that avahi announces: the agent renames its own.
	av.publish(t, "Avahi Owned", "_sharecast-pub._tcp", "1111")
	ev = publish(t, b, mdns.Publication{Name: "Avahi Owned", Type: "_sharecast-pub._tcp", Port: 2222, Host: "sharecast-agent2"})
	waitEvent(t, ev, mdns.Conflict)
	if e := waitEvent(t, ev, mdns.Established); e.Name != "Avahi Owned (2)" {
		t.Errorf("established as %q", e.Name)
	}
	p, _ = av.browse(t, "", "-rt", "_sharecast-pub._tcp")
	select {
	case <-p.Done():
	case <-time.After(30 * time.Second):
		t.Fatal("avahi-browse -rpt did not end")
	}
	owned, ours := resolved(p.Lines(), "Avahi Owned"), resolved(p.Lines(), "Avahi Owned (2)")
	if len(owned) != 1 || owned[0][8] != "1111" || len(ours) != 1 || ours[0][8] != "2222" {
		t.Errorf("avahi-browse: %q and %q", owned, ours)
	}
}

// ifaceAddrs returns the addresses of interface name, as strings.
func ifaceAddrs(t *testing.T, name string) []string {
	t.Helper()
	ifi, err := net.InterfaceByName(name)
	if err != nil {
		t.Fatal(err)
	}
	as, err := ifi.Addrs()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, a := range as {
		if p, err := netip.ParsePrefix(a.String()); err == nil {
			out = append(out, p.Addr().String())
		}
	}
	return out
}

// nextChange waits at most d for a change of kind to instance.
func nextChange(changes <-chan mdns.Change, kind mdns.ChangeKind, instance string, d time.Duration) (mdns.Service, bool) {
	timeout := time.After(d)
	for {
		select {
		case c := <-changes:
			if c.Kind == kind && c.Service.Instance == instance {
				return c.Service, true
			}
		case <-timeout:
			return mdns.Service{}, false
		}
	}
}
