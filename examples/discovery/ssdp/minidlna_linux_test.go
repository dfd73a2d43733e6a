package ssdp_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
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
	"github.com/sharecast/sharecast/examples/discovery/ssdp"
	"github.com/sharecast/sharecast/internal/extest"
	"github.com/sharecast/sharecast/internal/testbed"
)

const (
	dlnaUUID     = "uuid:4d696e69-444c-164e-9d41-5348415245c0"
	dlnaName     = "Sharecast DLNA"
	dlnaLocation = "http://10.78.0.2:8200/rootDesc.xml"
	mediaServer  = "urn:schemas-upnp-org:device:MediaServer:1"
)

// dlnaLink makes the link between the test's namespace (ssdp0,
// 10.78.0.1) and a host of minidlna's own (ssdp1, 10.78.0.2): minidlna
// turns multicast loopback off, so a listener must be on another host
// to hear it, as on a real network.
func dlnaLink(t *testing.T) *testbed.Host {
	t.Helper()
	dev := testbed.NewHost(t, "dlna")
	testbed.Veth(t, nil, "ssdp0", netip.MustParsePrefix("10.78.0.1/24"), dev, "ssdp1", netip.MustParsePrefix("10.78.0.2/24"))
	return dev
}

const minidlnaConfig = `media_dir=%[1]s/media
db_dir=%[1]s/db
log_dir=%[1]s
network_interface=ssdp1
port=8200
friendly_name=%[2]s
uuid=%[3]s
serial=12345678
notify_interval=%[4]d
inotify=no
enable_tivo=no
`

// startMinidlna runs minidlnad in dev, with its media directory, database
// and configuration in a temporary directory, announcing every interval.
func startMinidlna(t *testing.T, dev *testbed.Host, interval int) *proctest.Process {
	t.Helper()
	bin := extest.RequireCommand(t, "minidlnad", "minidlna")
	dir := t.TempDir()
	for _, d := range []string{"media", "db"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	conf := filepath.Join(dir, "minidlna.conf")
	if err := os.WriteFile(conf, fmt.Appendf(nil, minidlnaConfig, dir, dlnaName, strings.TrimPrefix(dlnaUUID, "uuid:"), interval), 0o644); err != nil {
		t.Fatal(err)
	}
	// -d: in the foreground, logging to stdout.
	cmd := exec.Command(bin, "-d", "-f", conf, "-P", filepath.Join(dir, "minidlna.pid"))
	p, _ := proctest.Start(t, "minidlna", cmd, "", dev.Start)
	return p
}

// TestMinidlna is issue 20's first and third acceptance criteria: a real
// minidlna, on a host of its own, announces itself; the agent lists it
// with the friendly name, model and services from its description; upnpc
// (miniupnpc), a control point of its own, still finds it while the agent
// runs, and the agent hears upnpc's searches; when minidlna stops, its
// byebye removes it.
func TestMinidlna(t *testing.T) {
	testbed.Require(t)
	dev := dlnaLink(t)
	a, changes := startAgent(t, ssdp.Config{Interfaces: []string{"ssdp0"}})
	p := startMinidlna(t, dev, 900)

	c := waitChange(t, changes, ssdp.Added, "alive", dlnaUUID, 30*time.Second)
	if c.Device.Location != dlnaLocation || c.Device.Source != netip.MustParseAddr("10.78.0.2") || !strings.Contains(c.Device.Server, "MiniDLNA") {
		t.Errorf("added %+v", c.Device)
	}
	c = waitChange(t, changes, ssdp.Updated, "description", dlnaUUID, 30*time.Second)
	d := c.Device.Description
	if d == nil || d.FriendlyName != dlnaName || !strings.Contains(d.ModelName, "MiniDLNA") || d.DeviceType != mediaServer || d.UDN != dlnaUUID ||
		!slices.Contains(d.Services, "urn:schemas-upnp-org:service:ContentDirectory:1") ||
		!slices.Contains(d.Services, "urn:schemas-upnp-org:service:ConnectionManager:1") {
		t.Errorf("description %+v (error %q)", d, c.Device.DescriptionError)
	}
	t.Logf("described: %+v", *d)

	// Coexistence: upnpc, searching from a port of its own, finds
	// minidlna while the agent is bound to 1900 (it lists every device
	// that answers before it says that none is an Internet gateway).
	searches := a.Stats().Searches
	out := upnpc(t, "-m", "ssdp0", "-l")
	if !strings.Contains(out, "desc: "+dlnaLocation) {
		t.Errorf("upnpc -l did not list minidlna:\n%s", out)
	}
	if st := a.Stats(); st.Searches == searches {
		t.Errorf("the agent heard none of upnpc's searches: %+v", st)
	}

	p.Stop(t)
	waitChange(t, changes, ssdp.Removed, "byebye", dlnaUUID, 10*time.Second)
	if ds := a.Devices(); len(ds) != 0 {
		t.Errorf("devices after the byebye: %+v", ds)
	}
	if st := a.Stats(); st.Malformed != 0 || st.Fetches != 1 || st.FetchErrors != 0 || st.Byebyes == 0 {
		t.Errorf("stats %+v", st)
	}
}

// upnpc runs miniupnpc's upnpc with args in a mount namespace whose /run
// is empty, so that it finds no minissdpd socket of the host's.
func upnpc(t *testing.T, args ...string) string {
	t.Helper()
	bin := extest.RequireCommand(t, "upnpc", "miniupnpc")
	unshare := extest.RequireCommand(t, "unshare", "util-linux")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, unshare, append([]string{"--mount", "--propagation", "private", "sh", "-c",
		`mount -t tmpfs tmpfs /run && exec "$@"`, "sh", bin}, args...)...)
	out, err := cmd.CombinedOutput()
	t.Logf("upnpc %s (%v):\n%s", strings.Join(args, " "), err, out)
	return string(out)
}

// minissdpdDevices asks minissdpd, over its unix socket, for every device
// it keeps (request type 3, "ssdp:all"), and returns their USNs.
func minissdpdDevices(t *testing.T, sock string) []string {
	t.Helper()
	c, err := net.Dial("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	req := append([]byte{3, byte(len(ssdp.SearchAll))}, ssdp.SearchAll...)
	if _, err := c.Write(req); err != nil {
		t.Fatal(err)
	}
	r := bufio.NewReader(c)
	field := func() string {
		n := 0
		for {
			b, err := r.ReadByte()
			if err != nil {
				t.Fatalf("minissdpd's answer: %v", err)
			}
			n = n<<7 | int(b&0x7f)
			if b&0x80 == 0 {
				break
			}
		}
		s := make([]byte, n)
		if _, err := io.ReadFull(r, s); err != nil {
			t.Fatalf("minissdpd's answer: %v", err)
		}
		return string(s)
	}
	count, err := r.ReadByte()
	if err != nil {
		t.Fatalf("minissdpd's answer: %v", err)
	}
	var usns []string
	for range count {
		loc, st, usn := field(), field(), field()
		t.Logf("minissdpd: %s %s %s", loc, st, usn)
		usns = append(usns, usn)
	}
	slices.Sort(usns)
	return usns
}

// count returns how many of p's lines start with prefix.
func count(p *proctest.Process, prefix string) int {
	n := 0
	for _, l := range p.Lines() {
		if strings.HasPrefix(l, prefix) {
			n++
		}
	}
	return n
}

// waitFor polls cond until it holds, for at most 20 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 20 s", what)
		}
		time.Sleep(5 * time.Millisecond) // polls; no timing is asserted
	}
}

// TestMinissdpd is issue 20's second acceptance criterion, and the trap
// of a shared port shown. minissdpd, the agent, a second agent that
// searches from port 1900, and a second program (a helper process) all
// share port 1900, bound in that order; minidlna runs on a host of its
// own. Every one of them hears every NOTIFY. The agent's ten searches,
// sent from its own socket, get minidlna's answer ten times of ten; the
// second agent's ten searches, sent from port 1900, get none: the
// answers, unicast to port 1900, all went to the program bound last.
func TestMinissdpd(t *testing.T) {
	testbed.Require(t)
	bin := extest.RequireCommand(t, "minissdpd", "minissdpd")
	dev := dlnaLink(t)
	dir, err := os.MkdirTemp("", "ssdp-") // short: unix socket paths are limited
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	sock := filepath.Join(dir, "minissdpd.sock")
	proctest.Start(t, "minissdpd", exec.Command(bin, "-d", "-i", "ssdp0", "-s", sock, "-p", filepath.Join(dir, "minissdpd.pid")), "", nil)
	waitFor(t, "minissdpd's socket", func() bool {
		c, err := net.Dial("unix", sock)
		if err == nil {
			c.Close()
		}
		return err == nil
	})
	a, changes := startAgent(t, ssdp.Config{Interfaces: []string{"ssdp0"}, NoIPv6: true})
	b, _ := startAgent(t, ssdp.Config{Interfaces: []string{"ssdp0"}, NoIPv6: true, SearchFromSharedPort: true})
	other, ready := proctest.Start(t, "other", testbed.Command(t, "ssdp-listen", "ssdp0"), "ready", nil)
	proctest.WaitLine(t, "other", ready, 10*time.Second)
	socks, err := testbed.UDPSockets(ssdp.Port)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("sockets on port 1900: %+v", socks)
	if len(socks) != 4 { // minissdpd's, the two agents', the helper's
		t.Errorf("%d sockets on port 1900, want 4", len(socks))
	}

	startMinidlna(t, dev, 900)
	waitChange(t, changes, ssdp.Updated, "description", dlnaUUID, 30*time.Second)
	// minidlna announces its root device, its UUID, its device type and
	// its three services.
	var usns []string
	waitFor(t, "the agent has minidlna's six USNs", func() bool {
		usns = usns[:0]
		for _, d := range a.Devices() {
			for _, u := range d.USNs {
				usns = append(usns, u.USN)
			}
		}
		return len(usns) == 6
	})
	waitFor(t, "minissdpd has them too", func() bool { return slices.Equal(minissdpdDevices(t, sock), usns) })
	waitFor(t, "the second agent and the second program have them", func() bool {
		var got []string
		for _, d := range b.Devices() {
			for _, u := range d.USNs {
				got = append(got, u.USN)
			}
		}
		for _, u := range usns {
			if !slices.ContainsFunc(other.Lines(), func(l string) bool { return strings.HasSuffix(l, " "+u) }) {
				return false
			}
		}
		return slices.Equal(got, usns)
	})

	// Ten searches from the agent's own socket: ten answers, there.
	for i := 1; i <= 10; i++ {
		if _, err := a.Search(mediaServer, 1); err != nil {
			t.Fatal(err)
		}
		waitStats(t, a, fmt.Sprintf("answer %d", i), func(st ssdp.Stats) bool { return st.Answers >= uint64(i) })
	}
	// Ten searches from port 1900: the answers go to the program bound
	// last, none to the searcher.
	for i := 1; i <= 10; i++ {
		if _, err := b.Search(mediaServer, 1); err != nil {
			t.Fatal(err)
		}
		waitFor(t, fmt.Sprintf("answer %d on the other program", i), func() bool { return count(other, "answer ") >= i })
	}
	sa, sb := a.Stats(), b.Stats()
	t.Logf("the agent's own socket: %d answers; the shared-port searcher: %d; the other program: %d", sa.Answers, sb.AnswersOnSharedPort, count(other, "answer "))
	if sa.Answers != 10 || sa.AnswersOnSharedPort != 0 || sb.Answers != 0 || sb.AnswersOnSharedPort != 0 || count(other, "answer ") != 10 {
		t.Errorf("answers: agent %d (on 1900: %d); shared-port searcher %d (on 1900: %d); other program %d",
			sa.Answers, sa.AnswersOnSharedPort, sb.Answers, sb.AnswersOnSharedPort, count(other, "answer "))
	}
	for _, l := range other.Lines() {
		if strings.HasPrefix(l, "answer ") && !strings.HasPrefix(l, "answer 10.78.0.2:") {
			t.Errorf("other program: %q, not from minidlna", l)
		}
	}
}
