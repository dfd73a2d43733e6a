package mcast_test

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/sharecast/sharecast/internal/winetest"
)

// TestWindowsBuildUnderWine builds this package's tests for windows/amd64
// and runs TestWineSmoke (wine_windows_test.go) under Wine, inside the test
// bed's private network namespace, so that the Windows code paths run
// against a real socket stack: two listeners sharing a port, each
// datagram's destination group and interface (IP_PKTINFO through
// WSARecvMsg), exclusive refusing a second socket (SO_EXCLUSIVEADDRUSE), a
// datagram larger than the buffer counted and survived (WSAEMSGSIZE), and
// source-specific joins. Wine is not Windows: this shows that the code
// paths run, not what Windows does.
//
// The harness, and the two test-only shims that Wine 8.0 needs to run a Go
// 1.26 program at all (a stand-in bcryptprimitives.dll and a build overlay
// of net/fd_windows.go), are in internal/winetest, whose doc says what each
// is and why. It skips without wine64 and gcc-mingw-w64-x86-64, and under
// CI=true (CI does not install them).
//
// What Wine cannot carry: IPv6 source-specific joins (Wine 8.0 maps no
// MCAST_* option to the host, so MCAST_JOIN_SOURCE_GROUP fails with
// WSAENOPROTOOPT: TestWineSmoke accepts that error for IPv6 only); the
// semantics of SO_EXCLUSIVEADDRUSE and SO_REUSEADDR, which Wine maps onto
// Linux's. Traffic between the Windows and the Linux builds of the CLI is
// run by cmd/sharecast/internal/cli's TestWindowsCLIUnderWine.
func TestWindowsBuildUnderWine(t *testing.T) {
	w := winetest.New(t)
	exe := filepath.Join(t.TempDir(), "mcast.test.exe")
	w.Go(t, "test", "-c", "-o", exe, ".")
	out := w.Run(t, []string{"SHARECAST_WINE_SMOKE=1"}, exe, "-test.run", "^(TestWineSmoke|TestParseWinControl|TestWindowsSourceRequests)$", "-test.v", "-test.count=1")
	t.Logf("under Wine:\n%s", out)
	for _, want := range []string{
		"--- PASS: TestWineSmoke ",
		"--- PASS: TestWineSmoke/two_listeners_share_a_port_and_see_the_destination",
		"--- PASS: TestWineSmoke/exclusive_refuses_a_second_socket",
		"--- PASS: TestWineSmoke/a_datagram_larger_than_the_buffer_is_counted_and_survived",
		"--- PASS: TestWineSmoke/a_dispatch.Server_takes_a_datagram_of_exactly_its_BufferSize_whole",
		"--- PASS: TestWineSmoke/source-specific_joins",
		"--- PASS: TestParseWinControl",
		"--- PASS: TestWindowsSourceRequests",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("under Wine, no %q", want)
		}
	}
}
