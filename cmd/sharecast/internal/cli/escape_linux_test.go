package cli_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/sharecast/sharecast/internal/procnet"
	"github.com/sharecast/sharecast/internal/testbed"
)

// namedHelper names its process args[0] (prctl PR_SET_NAME, as any program
// may), binds UDP port args[1] with SO_REUSEADDR (and the receive buffer
// args[2], where given), says "ready" and waits for its input to close,
// never reading its socket.
func namedHelper(args []string) int {
	b := append([]byte(args[0]), 0)
	if err := unix.Prctl(unix.PR_SET_NAME, uintptr(unsafe.Pointer(&b[0])), 0, 0, 0); err != nil {
		fmt.Println("ERROR", err)
		return 1
	}
	port, _ := strconv.Atoi(args[1])
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM, 0)
	if err == nil {
		err = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1)
	}
	if err == nil && len(args) > 2 {
		var n int
		if n, err = strconv.Atoi(args[2]); err == nil {
			err = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, n)
		}
	}
	if err == nil {
		err = unix.Bind(fd, &unix.SockaddrInet4{Port: port})
	}
	if err != nil {
		fmt.Println("ERROR", err)
		return 1
	}
	fmt.Println("ready")
	io.Copy(io.Discard, os.Stdin)
	return 0
}

// ports prints a process name that another user chose with its escape
// codes escaped, so that it cannot hide the "another user" flag; doctor
// too, where it names that process as a listener that does not read.
func TestPortsEscapesNames(t *testing.T) {
	testbed.RequireRoot(t)
	port := freePort(t)
	l := start(t, "listen", groupAt("239.10.0.70", port)) // root's socket: the helper's is another user's
	l.listening(t, 1)
	const name = "\x1b[8m\x1b]0;x\x07"
	cmd := testbed.Command(t, "named", name, strconv.Itoa(int(port)))
	testbed.AsUser(t, cmd, 65534, 65534)
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stdin.Close(); cmd.Wait() })
	if l, err := bufio.NewReader(stdout).ReadString('\n'); err != nil || l != "ready\n" {
		t.Fatalf("helper: %q, %v", l, err)
	}
	code, out, errOut := run(t, 20*time.Second, "ports", strconv.Itoa(int(port)))
	if code != 0 {
		t.Fatalf("ports: exit %d\n%s", code, errOut)
	}
	if strings.ContainsAny(out, "\x1b\x07") {
		t.Errorf("ports printed raw escape codes:\n%q", out)
	}
	if !strings.Contains(out, `\x1b[8m\x1b]0;x\a`) || !strings.Contains(out, "<- another user") {
		t.Errorf("ports does not show the escaped name and the flag:\n%s", out)
	}

	// The helper alone on the port, its queue full (it never reads):
	// doctor names it.
	if code := l.stop(t); code != 0 {
		t.Fatalf("listen: exit %d", code)
	}
	tx, err := net.DialUDP("udp4", nil, &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: int(port)})
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Close()
	// Delivery on lo is synchronous: the drop counter is up to date when
	// the write returns. Bounded: a default receive buffer holds a few
	// hundred of these.
	drops := uint64(0)
	for i := 0; drops == 0 && i < 4096; i++ {
		if _, err := tx.Write(make([]byte, 1000)); err != nil {
			t.Fatal(err)
		}
		socks, err := procnet.ReadUDP(procnet.IPv4)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range socks {
			if s.Local.Port() == port {
				drops += s.Drops
			}
		}
	}
	if drops == 0 {
		t.Fatal("the helper's queue never overflowed")
	}
	_, out, _ = run(t, 20*time.Second, "doctor", groupAt("239.10.0.70", port))
	if strings.ContainsAny(out, "\x1b\x07") {
		t.Errorf("doctor printed raw escape codes:\n%q", out)
	}
	if !strings.Contains(out, `(\x1b[8m\x1b]0;x\a)`) {
		t.Errorf("doctor does not name the listener that does not read, escaped:\n%s", out)
	}
}
