package netns

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"syscall"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// Command returns a command that runs the current executable with args in
// a new network namespace (and, when not root, a new user namespace that
// maps the user to root). Its standard streams are the caller's; it is
// killed if the calling process dies. The caller adds to Env whatever tells
// the child that it runs inside, and starts it.
func Command(args ...string) (*exec.Cmd, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("netns: %w", err)
	}
	cmd := exec.Command(exe, args...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.Env = os.Environ()
	attr := &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNET, Pdeathsig: syscall.SIGKILL}
	if os.Geteuid() != 0 {
		attr.Cloneflags |= syscall.CLONE_NEWUSER
		attr.UidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Geteuid(), Size: 1}}
		attr.GidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getegid(), Size: 1}}
		attr.GidMappingsEnableSetgroups = false
	}
	cmd.SysProcAttr = attr
	return cmd, nil
}

// ExitCode runs cmd (from Command) to its end and returns its exit status,
// 128+N for a child killed by signal N. The error is for a child that could
// not be started, which is where a namespace that cannot be made shows.
func ExitCode(cmd *exec.Cmd) (int, error) {
	if err := cmd.Start(); err != nil {
		return 0, fmt.Errorf("netns: start in a new network namespace: %w", err)
	}
	err := cmd.Wait()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return 128 + int(ws.Signal()), nil
		}
		return ee.ExitCode(), nil
	}
	if err != nil {
		return 0, fmt.Errorf("netns: %w", err)
	}
	return 0, nil
}

// SetupLoopback brings lo of the current network namespace up with the
// MULTICAST flag, and routes 224.0.0.0/4 (source 127.0.0.1) and ff00::/8
// (as a local route: IPv6 makes an ordinary route through lo a reject
// route) through it.
func SetupLoopback() error {
	h, err := netlink.NewHandle()
	if err != nil {
		return fmt.Errorf("netns: netlink: %w", err)
	}
	defer h.Close()
	lo, err := h.LinkByName("lo")
	if err != nil {
		return fmt.Errorf("netns: lo: %w", err)
	}
	if err := h.LinkSetMulticastOn(lo); err != nil {
		return fmt.Errorf("netns: lo multicast on: %w", err)
	}
	if err := h.LinkSetUp(lo); err != nil {
		return fmt.Errorf("netns: lo up: %w", err)
	}
	_, mc4, _ := net.ParseCIDR("224.0.0.0/4")
	if err := h.RouteReplace(&netlink.Route{LinkIndex: lo.Attrs().Index, Dst: mc4,
		Src: net.IPv4(127, 0, 0, 1), Scope: netlink.SCOPE_LINK}); err != nil {
		return fmt.Errorf("netns: route 224.0.0.0/4 dev lo: %w", err)
	}
	_, mc6, _ := net.ParseCIDR("ff00::/8")
	if err := h.RouteReplace(&netlink.Route{LinkIndex: lo.Attrs().Index, Dst: mc6,
		Type: unix.RTN_LOCAL, Table: unix.RT_TABLE_LOCAL}); err != nil {
		return fmt.Errorf("netns: route ff00::/8 dev lo: %w", err)
	}
	return nil
}

// CheckIsolated returns an error wrapping ErrNotIsolated, naming the
// interface, if the current network namespace holds any interface but lo.
func CheckIsolated() error {
	ifs, err := net.Interfaces()
	if err != nil {
		return fmt.Errorf("netns: %w", err)
	}
	for _, ifi := range ifs {
		if ifi.Name != "lo" {
			return fmt.Errorf("%w: %s", ErrNotIsolated, ifi.Name)
		}
	}
	return nil
}
