package hub_test

import (
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"

	"github.com/sharecast/sharecast/hub"
	"github.com/sharecast/sharecast/internal/procnet"
	"github.com/sharecast/sharecast/internal/testbed"
)

// Acceptance 6: a hub and two ordinary socket receivers (processes of
// their own, with sockets of their own on the port) share the port, and
// every one gets every datagram, byte for byte. The second is socat
// where it is installed (CI installs it); elsewhere a second sharecast socket.
func TestHubMixed(t *testing.T) {
	testbed.Require(t)
	const total = 5000
	spec := "239.1.6.6:6006"
	h, tap := startHub(t, []string{spec}, &hub.Config{Name: "t6", Slots: 8192, MaxDatagram: 256})
	cons := start(t, testbed.Command(t, "consumer", "-name", "t6"))
	cons.expect(t, "attached")
	plain := start(t, testbed.Command(t, "socket", spec))
	plain.expect(t, "ready")
	var second, socat *proc
	if _, err := exec.LookPath("socat"); err == nil {
		// socat writes each datagram's bytes to its stdout; it joins on
		// lo (127.0.0.1), and says nothing when it has: wait until
		// /proc/net/igmp counts its membership.
		// Its receive buffer as large as the others', since the
		// sender's bursts are sized for those.
		before, bound := groupUsers(t, "239.1.6.6"), boundSockets(t, 6006)
		socat = startRaw(t, exec.Command("socat", "-u", "UDP4-RECV:6006,reuseaddr,rcvbuf=4194304,ip-add-membership=239.1.6.6:127.0.0.1", "-"))
		until(t, "socat bound and joined", func() bool {
			return groupUsers(t, "239.1.6.6") > before && boundSockets(t, 6006) > bound
		})
	} else {
		if os.Getenv("CI") != "" {
			t.Fatal("socat is not installed (.ci/apt-packages lists it)")
		}
		t.Log("socat is not installed: a second socket receiver instead")
		second = start(t, testbed.Command(t, "socket", spec))
		second.expect(t, "ready")
	}
	var wantBytes []byte
	var buf [256]byte
	for n := range uint64(total) {
		wantBytes = append(wantBytes, payload(buf[:], 1, n)...)
	}
	if socat != nil {
		socat.collect(len(wantBytes))
	}
	s := testbed.NewSender(t, mustAddrPort(spec), nil, netipZero)
	send(t, s, 1, 0, total)
	until(t, "consumer caught up", func() bool {
		st := h.Stats()
		return len(st.Consumers) == 1 && st.Consumers[0].Rings[0].Next == total
	})
	h.Close()
	want := tap.String()
	if !strings.HasPrefix(want, "n=5000 ") || !strings.Contains(want, "gaps=none bad=none") {
		t.Fatalf("hub wrote %s", want)
	}
	if got := strings.TrimPrefix(cons.expect(t, "result"), "result "); !strings.HasPrefix(got, want+" overrun=0") {
		t.Errorf("hub consumer: %s, want %s", got, want)
	}
	if socat != nil {
		got := socat.readAll(t)
		if string(got) != string(wantBytes) {
			t.Errorf("socat wrote %d bytes, not the %d bytes of the %d datagrams in order", len(got), len(wantBytes), total)
		}
	}
	for _, p := range []*proc{plain, second} {
		if p == nil {
			continue
		}
		p.cmd.Process.Signal(syscall.SIGTERM)
		res := p.expect(t, "result")
		// Its own socket's timestamps differ from the hub's: compare
		// count, order and bytes.
		if fieldU(t, res, "n") != total || field(t, res, "gaps") != "none" || field(t, res, "bad") != "none" {
			t.Errorf("socket receiver: %s, want n=%d in order", res, total)
		}
	}
}

// boundSockets returns how many sockets are bound to port.
func boundSockets(t *testing.T, port uint16) int {
	t.Helper()
	socks, err := testbed.UDPSockets(port)
	if err != nil {
		t.Fatal(err)
	}
	return len(socks)
}

// groupUsers returns how many sockets have joined group on lo.
func groupUsers(t *testing.T, group string) int {
	t.Helper()
	ms, err := procnet.ReadIGMP(procnet.IPv4)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range ms {
		if m.IfName == "lo" && m.Group.String() == group {
			return m.Users
		}
	}
	return 0
}
