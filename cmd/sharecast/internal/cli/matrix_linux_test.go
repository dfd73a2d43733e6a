package cli_test

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sharecast/sharecast/internal/testbed"
)

// rawBind binds a UDP socket with the options of a matrix mode, written
// here with plain system calls so that the test does not trust the code
// that it checks: default and exclusive set nothing, any sets SO_REUSEADDR
// (as package mcast does on Linux), user sets SO_REUSEPORT.
func rawBind(mode string, addr netip.Addr, port uint16) (fd int, outcome string) {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, "ERROR " + err.Error()
	}
	if mode == "any" {
		err = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1)
	}
	if mode == "user" {
		err = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEPORT, 1)
	}
	if err == nil {
		err = unix.Bind(fd, &unix.SockaddrInet4{Port: int(port), Addr: addr.As4()})
	}
	switch {
	case err == nil:
		return fd, "Success"
	case errors.Is(err, unix.EADDRINUSE):
		outcome = "INUSE"
	case errors.Is(err, unix.EACCES):
		outcome = "ACCESS"
	default:
		outcome = "ERROR " + err.Error()
	}
	unix.Close(fd)
	return -1, outcome
}

// rawBindHelper makes second binds for the test as another user: it reads
// "MODE ADDR PORT" lines and answers each with the outcome of a raw bind,
// closed at once.
func rawBindHelper([]string) int {
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		var mode, addr string
		var port uint16
		if _, err := fmt.Sscan(sc.Text(), &mode, &addr, &port); err != nil {
			fmt.Println("ERROR", err)
			continue
		}
		fd, outcome := rawBind(mode, netip.MustParseAddr(addr), port)
		if fd >= 0 {
			unix.Close(fd)
		}
		fmt.Println(outcome)
	}
	return 0
}

// linuxModel is the rule of the README's table: two binds on one port
// share it when both set SO_REUSEADDR (whatever their users), or both set
// SO_REUSEPORT and have one user; otherwise the second finds it in use.
func linuxModel(first, second string, sameUser bool) string {
	reuseAddr := map[string]bool{"any": true}
	reusePort := map[string]bool{"user": true}
	if reuseAddr[first] && reuseAddr[second] || reusePort[first] && reusePort[second] && sameUser {
		return "Success"
	}
	return "INUSE"
}

type matrixJSON struct {
	OS, Network, Wildcard, Specific string
	Tables                          []struct {
		SameUser  bool `json:"same_user"`
		FirstUID  int  `json:"first_uid"`
		SecondUID int  `json:"second_uid"`
		Skipped   string
		Cells     []struct {
			First, Second struct{ Mode, Address string }
			Outcome       string
			Error         string
		}
	}
}

// Acceptance 4: matrix prints the table that the kernel produces: each
// cell is checked against binds made here with plain system calls (by
// another user through a helper process, for the second table), and
// against the README's rule.
func TestMatrixMatchesKernel(t *testing.T) {
	testbed.Require(t)
	code, out, errOut := run(t, 60*time.Second, "matrix", "--format", "json")
	if code != 0 {
		t.Fatalf("matrix: exit %d: %s", code, errOut)
	}
	var m matrixJSON
	if err := json.Unmarshal([]byte(out), &m); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if m.OS != "linux" || m.Network != "udp4" || m.Wildcard != "0.0.0.0" || m.Specific != "127.0.0.1" || len(m.Tables) != 2 {
		t.Fatalf("matrix: %s", out)
	}
	addrs := map[string]netip.Addr{"wildcard": netip.MustParseAddr("0.0.0.0"), "specific": netip.MustParseAddr("127.0.0.1")}

	var other func(mode string, addr netip.Addr, port uint16) string
	if testbed.RealRoot() {
		h := testbed.Command(t, "rawbind")
		testbed.AsUser(t, h, 65534, 65534)
		in, err := h.StdinPipe()
		if err != nil {
			t.Fatal(err)
		}
		outPipe, err := h.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := h.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { in.Close(); h.Wait() })
		rd := bufio.NewReader(outPipe)
		other = func(mode string, addr netip.Addr, port uint16) string {
			fmt.Fprintf(in, "%s %s %d\n", mode, addr, port)
			l, err := rd.ReadString('\n')
			if err != nil && !errors.Is(err, io.EOF) {
				t.Fatal(err)
			}
			return strings.TrimSpace(l)
		}
	}

	for ti, tab := range m.Tables {
		if ti == 1 && other == nil {
			if tab.Skipped == "" {
				t.Errorf("the other-user table is not skipped without root")
			}
			continue
		}
		if tab.SameUser != (ti == 0) || len(tab.Cells) != 64 || tab.Skipped != "" {
			t.Fatalf("table %d: same user %v, %d cells, skipped %q", ti, tab.SameUser, len(tab.Cells), tab.Skipped)
		}
		if ti == 1 && tab.SecondUID != 65534 {
			t.Fatalf("other user %d", tab.SecondUID)
		}
		for _, c := range tab.Cells {
			port := freePort(t)
			fd, first := rawBind(c.First.Mode, addrs[c.First.Address], port)
			if fd < 0 {
				t.Fatalf("first bind %+v: %s", c.First, first)
			}
			var kernel string
			if ti == 0 {
				var fd2 int
				fd2, kernel = rawBind(c.Second.Mode, addrs[c.Second.Address], port)
				if fd2 >= 0 {
					unix.Close(fd2)
				}
			} else {
				kernel = other(c.Second.Mode, addrs[c.Second.Address], port)
			}
			unix.Close(fd)
			model := linuxModel(c.First.Mode, c.Second.Mode, ti == 0)
			if c.Outcome != kernel || kernel != model {
				t.Errorf("table %d: first %s %s, second %s %s: matrix says %s (%s), the kernel %s, the README %s",
					ti, c.First.Mode, c.First.Address, c.Second.Mode, c.Second.Address, c.Outcome, c.Error, kernel, model)
			}
		}
	}

	// The text layout: Microsoft's, with "Second bind" over the columns
	// of the second bind and two rows per mode of the first.
	code, text, _ := run(t, 60*time.Second, "matrix", "--same-user-only")
	if code != 0 {
		t.Fatalf("matrix: exit %d", code)
	}
	ls := strings.Split(text, "\n")
	var at int
	for i, l := range ls {
		if strings.HasPrefix(l, "First bind") {
			at = i
		}
	}
	if at < 2 || strings.TrimSpace(ls[at-2]) != "Second bind" || strings.Fields(ls[at-1])[0] != "default" ||
		strings.Index(ls[at-2], "Second") != strings.Index(ls[at-1], "default") ||
		len(strings.Fields(ls[at])) != 10 || !strings.HasPrefix(ls[at+1], "default") || !strings.HasPrefix(ls[at+3], "any") {
		t.Fatalf("layout:\n%s", text)
	}
	if f := strings.Fields(ls[at+3]); strings.Join(f, " ") != "any wildcard INUSE INUSE Success Success INUSE INUSE INUSE INUSE" {
		t.Errorf("row any/wildcard: %q", f)
	}
}
