package mcast_test

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/sharecast/sharecast/internal/testbed"
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
// It needs Debian's wine64 and gcc-mingw-w64-x86-64 (about 160 MB, a
// minute to install), and skips without them; CI does not install them.
//
// Wine 8.0 needs two test-only shims to run a Go 1.26 program at all, kept
// here and nowhere else:
//   - testdata/wine/bcryptprimitives.c: a stand-in bcryptprimitives.dll
//     exporting ProcessPrng (which Go's runtime loads at start-up and Wine
//     8.0 lacks), built with mingw-w64 and put in the prefix's system32;
//   - a build overlay of net/fd_windows.go that tolerates WSAEOPNOTSUPP
//     from the SIO_UDP_NETRESET ioctl that Go's net package issues on
//     every UDP socket (Wine 8.0 does not implement it, and every UDP
//     socket would fail).
//
// What Wine cannot carry: IPv6 source-specific joins (Wine 8.0 maps no
// MCAST_* option to the host, so MCAST_JOIN_SOURCE_GROUP fails with
// WSAENOPROTOOPT: TestWineSmoke accepts that error for IPv6 only); the
// semantics of SO_EXCLUSIVEADDRUSE and SO_REUSEADDR, which Wine maps onto
// Linux's; traffic between the Windows and the Linux builds of the CLI is
// not run here.
func TestWindowsBuildUnderWine(t *testing.T) {
	wine, err := exec.LookPath("wine64")
	if err != nil {
		wine = "/usr/lib/wine/wine64" // Debian's wine64 puts it there
	}
	gcc, gccErr := exec.LookPath("x86_64-w64-mingw32-gcc")
	if _, err := os.Stat(wine); err != nil || gccErr != nil {
		t.Skip("needs wine64 and gcc-mingw-w64-x86-64 (apt-get install --no-install-recommends wine64 gcc-mingw-w64-x86-64-win32)")
	}
	if runtime.GOARCH != "amd64" {
		t.Skip("wine64 runs windows/amd64 programs on amd64")
	}
	testbed.Require(t)
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	run := func(env []string, name string, args ...string) string {
		t.Helper()
		cmd := exec.CommandContext(ctx, name, args...)
		cmd.Env = append(os.Environ(), env...)
		cmd.WaitDelay = 10 * time.Second // wineserver may hold the output open
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
		}
		return string(out)
	}

	// The shims.
	dll := filepath.Join(dir, "bcryptprimitives.dll")
	run(nil, gcc, "-shared", "-O2", "-o", dll, "testdata/wine/bcryptprimitives.c", "testdata/wine/bcryptprimitives.def", "-ladvapi32")
	goroot := strings.TrimSpace(run(nil, "go", "env", "GOROOT"))
	orig := filepath.Join(goroot, "src", "net", "fd_windows.go")
	src, err := os.ReadFile(orig)
	if err != nil {
		t.Fatal(err)
	}
	const check = "err = syscall.WSAIoctl(fd.pfd.Sysfd, windows.SIO_UDP_NETRESET, (*byte)(unsafe.Pointer(&flag)), size, nil, 0, &ret, nil, 0)\n\t\tif err != nil {"
	if !strings.Contains(string(src), check) {
		t.Fatalf("%s no longer has the SIO_UDP_NETRESET check that the overlay relaxes: update the shim", orig)
	}
	patched := strings.Replace(string(src), check,
		strings.TrimSuffix(check, "err != nil {")+"err != nil && err != syscall.Errno(10045) { // WSAEOPNOTSUPP under Wine 8.0: test-only overlay", 1)
	if err := os.MkdirAll(filepath.Join(dir, "overlay"), 0o755); err != nil {
		t.Fatal(err)
	}
	over := filepath.Join(dir, "overlay", "fd_windows.go")
	if err := os.WriteFile(over, []byte(patched), 0o644); err != nil {
		t.Fatal(err)
	}
	js, _ := json.Marshal(map[string]map[string]string{"Replace": {orig: over}})
	overlay := filepath.Join(dir, "overlay.json")
	if err := os.WriteFile(overlay, js, 0o644); err != nil {
		t.Fatal(err)
	}

	// The Windows build of this package's tests.
	exe := filepath.Join(dir, "mcast.test.exe")
	run([]string{"GOOS=windows", "GOARCH=amd64", "CGO_ENABLED=0", "GOPROXY=off"}, "go", "test", "-c", "-overlay", overlay, "-o", exe, ".")

	// A Wine prefix of the test's own, with the stand-in DLL.
	prefix := filepath.Join(dir, "prefix")
	wenv := []string{"WINEPREFIX=" + prefix, "WINEDEBUG=-all", "WINEDLLOVERRIDES=bcryptprimitives=n;mscoree,mshtml="}
	t.Cleanup(func() {
		cmd := exec.Command(filepath.Join(filepath.Dir(wine), "wineserver"), "-k")
		cmd.Env = append(os.Environ(), wenv...)
		_ = cmd.Run() // the server may have gone already
	})
	run(wenv, wine, "wineboot", "-i")
	sys32 := filepath.Join(prefix, "drive_c", "windows", "system32")
	b, err := os.ReadFile(dll)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(sys32, "bcryptprimitives.dll"), b, 0o755); err != nil {
		t.Fatal(err)
	}

	out := run(append(wenv, "SHARECAST_WINE_SMOKE=1"), wine, exe, "-test.run", "^(TestWineSmoke|TestParseWinControl|TestWindowsSourceRequests)$", "-test.v", "-test.count=1")
	t.Logf("under Wine:\n%s", out)
	for _, want := range []string{
		"--- PASS: TestWineSmoke ",
		"--- PASS: TestWineSmoke/two_listeners_share_a_port_and_see_the_destination",
		"--- PASS: TestWineSmoke/exclusive_refuses_a_second_socket",
		"--- PASS: TestWineSmoke/a_datagram_larger_than_the_buffer_is_counted_and_survived",
		"--- PASS: TestWineSmoke/source-specific_joins",
		"--- PASS: TestParseWinControl",
		"--- PASS: TestWindowsSourceRequests",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("under Wine, no %q", want)
		}
	}
}
