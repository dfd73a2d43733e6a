package testbed

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"

	"github.com/sharecast/sharecast/internal/netns"
	vnetns "github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

const (
	envInside   = "SHARECAST_TESTBED"          // set in the re-executed child
	envRealRoot = "SHARECAST_TESTBED_REALROOT" // the outer process was root
	envHelper   = "SHARECAST_TESTBED_HELPER"   // run this registered helper
)

var (
	ready   bool  // the namespace is set up
	reason  error // why not
	helpers = map[string]func(args []string) int{}

	createdMu sync.Mutex
	created   = map[string]bool{"lo": true} // interfaces of the test's namespace
)

// Register names a helper function for [Command]. Call it from an init
// function or from TestMain before [Main]. The function's result is the
// process's exit status.
func Register(name string, fn func(args []string) int) {
	helpers[name] = fn
}

// Main runs the package's tests inside a private network namespace; call it
// from TestMain. It does not return.
func Main(m *testing.M) {
	if name := os.Getenv(envHelper); name != "" {
		fn, ok := helpers[name]
		if !ok {
			fmt.Fprintf(os.Stderr, "testbed: no helper %q registered\n", name)
			os.Exit(2)
		}
		os.Exit(fn(os.Args[1:]))
	}
	if os.Getenv(envInside) == "" {
		code, err := reexec()
		if err == nil {
			os.Exit(code)
		}
		reason = fmt.Errorf("cannot make a network namespace (run as root, or allow unprivileged user namespaces: sysctl kernel.unprivileged_userns_clone=1): %w", err)
		os.Exit(run(m))
	}
	if err := netns.SetupLoopback(); err != nil {
		reason = fmt.Errorf("setting up lo in the test namespace: %w", err)
	} else if err := checkIsolated(); err != nil {
		reason = err
	} else {
		ready = true
	}
	os.Exit(run(m))
}

func run(m *testing.M) int {
	code := m.Run()
	Cleanup()
	return code
}

// reexec runs the test binary again in a new network namespace and returns
// its exit status.
func reexec() (int, error) {
	cmd, err := netns.Command(os.Args[1:]...)
	if err != nil {
		return 0, err
	}
	cmd.Env = append(os.Environ(), envInside+"=1")
	if os.Geteuid() == 0 {
		cmd.Env = append(cmd.Env, envRealRoot+"=1")
	}
	return netns.ExitCode(cmd)
}

// checkIsolated fails if the namespace holds an interface that the test
// bed did not create: traffic might then leave it.
func checkIsolated() error {
	ifs, err := net.Interfaces()
	if err != nil {
		return err
	}
	createdMu.Lock()
	defer createdMu.Unlock()
	for _, ifi := range ifs {
		if !created[ifi.Name] {
			return fmt.Errorf("testbed: interface %s was not created by the test bed; refusing to send", ifi.Name)
		}
	}
	return nil
}

// Available reports whether the test bed namespace is set up.
func Available() bool { return ready }

// Require skips t (fails it where CI is set) unless the test runs inside
// the test bed's namespace, and fails it if the namespace holds an
// interface that the test bed did not create.
func Require(t testing.TB) {
	t.Helper()
	if !ready {
		if reason == nil {
			reason = errors.New("the test binary did not call testbed.Main")
		}
		if os.Getenv("CI") != "" {
			t.Fatalf("test bed unavailable in CI: %v", reason)
		}
		t.Skipf("test bed unavailable: %v", reason)
	}
	if err := checkIsolated(); err != nil {
		t.Fatal(err)
	}
}

// RealRoot reports whether the test bed runs as the real root user, so
// that a helper may switch to another uid ([AsUser]).
func RealRoot() bool { return os.Getenv(envRealRoot) == "1" }

// RequireRoot is Require, and skips (fails in CI) unless [RealRoot].
func RequireRoot(t testing.TB) {
	t.Helper()
	Require(t)
	if !RealRoot() {
		if os.Getenv("CI") != "" {
			t.Fatal("test needs root, and CI runs as root")
		}
		t.Skip("test needs root (to run a process as another user)")
	}
}

// Command returns a command that runs the registered helper name with args,
// as a new process of the test binary in the current network namespace.
// Its output goes to the test's log unless the caller sets Stdout/Stderr.
// The process is killed if the test process dies.
func Command(t testing.TB, name string, args ...string) *exec.Cmd {
	t.Helper()
	if _, ok := helpers[name]; !ok {
		t.Fatalf("testbed: no helper %q registered", name)
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, args...)
	cmd.Env = append(os.Environ(), envInside+"=1", envHelper+"="+name)
	cmd.Stderr = &testWriter{t: t, prefix: name + ": "}
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	return cmd
}

type testWriter struct {
	t      testing.TB
	prefix string
	mu     sync.Mutex
}

func (w *testWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, line := range strings.Split(strings.TrimRight(string(p), "\n"), "\n") {
		w.t.Log(w.prefix + line)
	}
	return len(p), nil
}

var (
	publicExeOnce sync.Once
	publicExe     string
	publicExeErr  error
)

// AsUser makes cmd (from [Command] or [Host.Command]) run as uid and gid.
// The test binary is copied once to a directory that any user may read,
// since the build directory is private to its owner.
func AsUser(t testing.TB, cmd *exec.Cmd, uid, gid int) {
	t.Helper()
	publicExeOnce.Do(func() {
		publicExe, publicExeErr = copyPublic()
	})
	if publicExeErr != nil {
		t.Fatalf("testbed: copying the test binary for another user: %v", publicExeErr)
	}
	cmd.Path = publicExe
	cmd.Args[0] = publicExe
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Credential = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
	cmd.Dir = "/"
}

func copyPublic() (string, error) {
	exe, err := os.Executable()
	if err != nil {
		return "", err
	}
	dir, err := os.MkdirTemp("", "sharecast-testbed-")
	if err != nil {
		return "", err
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		return "", err
	}
	// The copy is removed when the test binary's temporary files go: a
	// test cannot clean up a process-wide copy from its own Cleanup.
	registerExit(func() { os.RemoveAll(dir) })
	src, err := os.Open(exe)
	if err != nil {
		return "", err
	}
	defer src.Close()
	dst := filepath.Join(dir, filepath.Base(exe))
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY, 0o755)
	if err != nil {
		return "", err
	}
	if _, err := io.Copy(out, src); err != nil {
		out.Close()
		return "", err
	}
	return dst, out.Close()
}

var (
	exitMu    sync.Mutex
	exitFuncs []func()
)

func registerExit(f func()) {
	exitMu.Lock()
	exitFuncs = append(exitFuncs, f)
	exitMu.Unlock()
}

// AtExit registers f to run with the process-wide clean-ups, after the
// tests (for something that several tests share, such as a program built
// once).
func AtExit(f func()) { registerExit(f) }

// Cleanup runs the process-wide clean-ups (such as the copy of the test
// binary for AsUser). Main calls it after the tests; a TestMain that does
// more may call it too.
func Cleanup() {
	exitMu.Lock()
	fs := exitFuncs
	exitFuncs = nil
	exitMu.Unlock()
	for _, f := range fs {
		f()
	}
}

// Host is a network namespace that stands for one host.
type Host struct {
	Name string
	ns   vnetns.NsHandle
	nl   *netlink.Handle
}

// NewHost makes a network namespace with lo up (MULTICAST flag set, no
// routes) and removes it when the test ends.
func NewHost(t testing.TB, name string) *Host {
	t.Helper()
	Require(t)
	var ns vnetns.NsHandle
	err := onThread(func() error {
		orig, err := vnetns.Get()
		if err != nil {
			return err
		}
		defer orig.Close()
		if ns, err = vnetns.New(); err != nil {
			return err
		}
		return vnetns.Set(orig)
	})
	if err != nil {
		t.Fatalf("testbed: new host %s: %v", name, err)
	}
	nl, err := netlink.NewHandleAt(ns)
	if err != nil {
		ns.Close()
		t.Fatalf("testbed: netlink in host %s: %v", name, err)
	}
	h := &Host{Name: name, ns: ns, nl: nl}
	t.Cleanup(func() {
		nl.Close()
		ns.Close() // the last reference: the kernel removes the namespace and its links
	})
	lo, err := nl.LinkByName("lo")
	if err == nil {
		if err = nl.LinkSetMulticastOn(lo); err == nil {
			err = nl.LinkSetUp(lo)
		}
	}
	if err != nil {
		t.Fatalf("testbed: lo in host %s: %v", name, err)
	}
	return h
}

// onThread runs fn on a locked OS thread. If fn leaves the thread in another
// namespace (it returned an error), the thread is not unlocked, so the
// runtime discards it rather than reuse it.
func onThread(fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		err := fn()
		if err == nil {
			runtime.UnlockOSThread()
		}
		errc <- err
	}()
	return <-errc
}

// Do runs fn on a thread inside the host's namespace. Sockets that fn opens
// belong to the host, from whichever thread they are used afterwards.
func (h *Host) Do(fn func() error) error {
	var fnErr error
	err := onThread(func() error {
		orig, err := vnetns.Get()
		if err != nil {
			return err
		}
		defer orig.Close()
		if err := vnetns.Set(h.ns); err != nil {
			return err
		}
		fnErr = fn()
		return vnetns.Set(orig)
	})
	if err != nil {
		return fmt.Errorf("testbed: host %s: %w", h.Name, err)
	}
	return fnErr
}

// Command is [Command] for a process inside the host's namespace; Start it
// with h.Start.
func (h *Host) Command(t testing.TB, name string, args ...string) *exec.Cmd {
	t.Helper()
	return Command(t, name, args...)
}

// Start starts cmd inside the host's namespace (the child inherits the
// namespace of the thread that forks it).
func (h *Host) Start(cmd *exec.Cmd) error {
	return h.Do(cmd.Start)
}

// Interface returns the host's interface called name.
func (h *Host) Interface(name string) (*net.Interface, error) {
	var ifi *net.Interface
	err := h.Do(func() error {
		var err error
		ifi, err = net.InterfaceByName(name)
		return err
	})
	return ifi, err
}

// Netlink returns a netlink handle that acts in the host's namespace, to
// set links down and up or change addresses in tests.
func (h *Host) Netlink() *netlink.Handle { return h.nl }

// handle returns the netlink handle of h, or of the test's own namespace
// for a nil h.
func handleOf(h *Host) (*netlink.Handle, error) {
	if h != nil {
		return h.nl, nil
	}
	return netlink.NewHandle()
}

// Veth makes a veth pair, nameA in host a and nameB in host b (a nil host
// is the test's own namespace), each up with the MULTICAST flag and the
// given address (an invalid prefix: none). It is removed when the test ends.
func Veth(t testing.TB, a *Host, nameA string, addrA netip.Prefix, b *Host, nameB string, addrB netip.Prefix) {
	t.Helper()
	Require(t)
	if err := veth(a, nameA, addrA, b, nameB, addrB); err != nil {
		t.Fatalf("testbed: veth %s-%s: %v", nameA, nameB, err)
	}
	t.Cleanup(func() {
		if h, err := handleOf(a); err == nil {
			if l, err := h.LinkByName(nameA); err == nil {
				h.LinkDel(l)
			}
			if a == nil {
				h.Close()
			}
		}
		createdMu.Lock()
		delete(created, nameA)
		delete(created, nameB)
		createdMu.Unlock()
	})
}

func veth(a *Host, nameA string, addrA netip.Prefix, b *Host, nameB string, addrB netip.Prefix) error {
	// Both ends are born in the test's namespace before one moves away.
	createdMu.Lock()
	created[nameA] = true
	created[nameB] = true
	createdMu.Unlock()
	root, err := netlink.NewHandle()
	if err != nil {
		return err
	}
	defer root.Close()
	la := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: nameA}, PeerName: nameB}
	if err := root.LinkAdd(la); err != nil {
		return err
	}
	if err := moveAndConfigure(root, nameA, a, addrA); err != nil {
		return err
	}
	if err := moveAndConfigure(root, nameB, b, addrB); err != nil {
		return err
	}
	// A veth carries nothing until both ends report carrier; datagrams
	// sent before are dropped (and IPv6 says the network is unreachable).
	for _, end := range []struct {
		h    *Host
		name string
	}{{a, nameA}, {b, nameB}} {
		nl := root
		if end.h != nil {
			nl = end.h.nl
		}
		if err := waitOperUp(nl, end.name); err != nil {
			return err
		}
	}
	return nil
}

// waitOperUp waits until link name reports operational state up.
func waitOperUp(nl *netlink.Handle, name string) error {
	deadline := time.Now().Add(5 * time.Second)
	for {
		l, err := nl.LinkByName(name)
		if err != nil {
			return err
		}
		if l.Attrs().OperState == netlink.OperUp {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: no carrier after 5 s (state %s)", name, l.Attrs().OperState)
		}
		time.Sleep(5 * time.Millisecond) // polling the link's state
	}
}

// moveAndConfigure moves link name from the test's namespace into host h
// (unless h is nil), and brings it up with addr.
func moveAndConfigure(root *netlink.Handle, name string, h *Host, addr netip.Prefix) error {
	nl := root
	if h != nil {
		l, err := root.LinkByName(name)
		if err != nil {
			return err
		}
		if err := root.LinkSetNsFd(l, int(h.ns)); err != nil {
			return fmt.Errorf("move %s to host %s: %w", name, h.Name, err)
		}
		nl = h.nl
	}
	l, err := nl.LinkByName(name)
	if err != nil {
		return err
	}
	if err := nl.LinkSetMulticastOn(l); err != nil {
		return err
	}
	if addr.IsValid() {
		a := &netlink.Addr{IPNet: prefixToIPNet(addr)}
		if addr.Addr().Is6() {
			a.Flags = unix.IFA_F_NODAD // usable at once, no duplicate detection wait
		}
		if err := nl.AddrAdd(l, a); err != nil {
			return fmt.Errorf("address %s on %s: %w", addr, name, err)
		}
	}
	return nl.LinkSetUp(l)
}

func prefixToIPNet(p netip.Prefix) *net.IPNet {
	return &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
}

// Switch is a Linux bridge in a namespace of its own, joining hosts.
type Switch struct {
	Host     *Host // the namespace that holds the bridge
	Name     string
	n        int
	snooping bool
}

// NewSwitch makes a bridge called name in a namespace of its own, with
// IGMP/MLD snooping on or off, and removes it when the test ends. With
// snooping on, the bridge is also the IGMP/MLD querier (a Linux bridge
// floods multicast while it knows of no querier) and its ports leave a
// group as soon as the last member says so (fast leave).
func NewSwitch(t testing.TB, name string, snooping bool) *Switch {
	t.Helper()
	h := NewHost(t, name)
	br := &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: name}, MulticastSnooping: &snooping}
	if err := h.nl.LinkAdd(br); err != nil {
		t.Fatalf("testbed: bridge %s: %v", name, err)
	}
	if snooping {
		err := h.Do(func() error { return bridgeSetQuerier(name) })
		if err != nil {
			t.Fatalf("testbed: bridge %s querier: %v", name, err)
		}
	}
	if err := h.nl.LinkSetUp(br); err != nil {
		t.Fatalf("testbed: bridge %s up: %v", name, err)
	}
	return &Switch{Host: h, Name: name, snooping: snooping}
}

// bridgeSetQuerier makes the bridge called name, in the calling thread's
// namespace, an IGMPv3/MLDv2 querier (the netlink library has no setter
// for these attributes).
func bridgeSetQuerier(name string) error {
	l, err := netlink.LinkByName(name)
	if err != nil {
		return err
	}
	set := func(attrs map[uint16][]byte) error {
		req := nl.NewNetlinkRequest(unix.RTM_NEWLINK, unix.NLM_F_ACK)
		msg := nl.NewIfInfomsg(unix.AF_BRIDGE)
		msg.Index = int32(l.Attrs().Index)
		req.AddData(msg)
		info := nl.NewRtAttr(unix.IFLA_LINKINFO, nil)
		info.AddRtAttr(nl.IFLA_INFO_KIND, nl.NonZeroTerminated("bridge"))
		data := info.AddRtAttr(nl.IFLA_INFO_DATA, nil)
		for k, v := range attrs {
			data.AddRtAttr(int(k), v)
		}
		req.AddData(info)
		_, err := req.Execute(unix.NETLINK_ROUTE, 0)
		return err
	}
	// The bridge floods until its querier has waited one query response
	// interval (10 s by default, in centiseconds), taken when the querier
	// is turned on: shorten it to 1 s first.
	if err := set(map[uint16][]byte{nl.IFLA_BR_MCAST_QUERY_RESPONSE_INTVL: nl.Uint64Attr(100)}); err != nil {
		return err
	}
	// IGMPv3 and MLDv2 queries: with v2 (the default) hosts fall back to
	// IGMPv2, where a host that hears another's report for a group keeps
	// quiet, and the bridge learns only one member port per group.
	return set(map[uint16][]byte{
		nl.IFLA_BR_MCAST_IGMP_VERSION: {3},
		nl.IFLA_BR_MCAST_MLD_VERSION:  {2},
		nl.IFLA_BR_MCAST_QUERIER:      {1},
	})
}

// Ports returns the names of the bridge ports that the bridge's multicast
// database lists for group (from iproute2's "bridge mdb").
func (s *Switch) Ports(group netip.Addr) ([]string, error) {
	var out []byte
	err := s.Host.Do(func() error {
		var err error
		out, err = exec.Command("bridge", "-j", "mdb", "show", "dev", s.Name).Output()
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("bridge mdb show: %w", err)
	}
	var mdb []struct {
		Mdb []struct {
			Port string `json:"port"`
			Grp  string `json:"grp"`
		} `json:"mdb"`
	}
	if err := json.Unmarshal(out, &mdb); err != nil {
		return nil, fmt.Errorf("bridge mdb show: %q: %w", out, err)
	}
	var ports []string
	for _, m := range mdb {
		for _, e := range m.Mdb {
			if a, err := netip.ParseAddr(e.Grp); err == nil && a == group {
				ports = append(ports, e.Port)
			}
		}
	}
	return ports, nil
}

// Attach plugs host h into the switch through a veth pair: ifname in h,
// with addr, and a port of the bridge on the other side, which it returns.
func (s *Switch) Attach(t testing.TB, h *Host, ifname string, addr netip.Prefix) string {
	t.Helper()
	s.n++
	port := fmt.Sprintf("%s-p%d", s.Name, s.n)
	Veth(t, h, ifname, addr, s.Host, port, netip.Prefix{})
	br, err := s.Host.nl.LinkByName(s.Name)
	if err != nil {
		t.Fatal(err)
	}
	p, err := s.Host.nl.LinkByName(port)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Host.nl.LinkSetMaster(p, br); err != nil {
		t.Fatalf("testbed: %s into bridge %s: %v", port, s.Name, err)
	}
	if s.snooping {
		if err := s.Host.nl.LinkSetFastLeave(p, true); err != nil {
			t.Fatalf("testbed: fast leave on %s: %v", port, err)
		}
	}
	return port
}
