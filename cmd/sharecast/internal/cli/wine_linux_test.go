package cli_test

import (
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/sharecast/sharecast/internal/testbed"
	"github.com/sharecast/sharecast/internal/winetest"
)

// TestWindowsCLIUnderWine builds the CLI for windows/amd64 and runs it under
// Wine, inside the test bed's private network namespace, against the Linux
// build (this test binary, through start and run): the Windows `listen
// GROUP --count N --format json` receives the N datagrams of a Linux `send`,
// and a Linux `listen` receives those of a Windows `send` (one write a
// datagram there, since Windows has no sendmmsg). Each side checks every
// datagram's length, header and filler byte for byte, the destination group
// it reports, and the byte count of the summary. Wine is not Windows: this
// shows that the Windows build's send and receive paths run, not what
// Windows does.
//
// The harness and its two test-only shims are in internal/winetest; it skips
// without wine64 and gcc-mingw-w64-x86-64, and under CI=true.
//
// What Wine cannot carry here: the interface that the Windows listener
// names is Wine's view of the host's (lo, which checkStream expects), not a
// Windows adapter's name, so the name checks the lookup path, not what
// Windows would print. Two Windows listeners sharing a port, exclusive
// refusing a second socket and a datagram larger than the buffer are run at
// the mcast level, by mcast's TestWindowsBuildUnderWine.
func TestWindowsCLIUnderWine(t *testing.T) {
	w := winetest.New(t)
	exe := filepath.Join(t.TempDir(), "sharecast.exe")
	w.Go(t, "build", "-o", exe, "github.com/sharecast/sharecast/cmd/sharecast")
	const n, size = 200, 300

	t.Run("Windows listen, Linux send", func(t *testing.T) {
		testbed.Require(t)
		g := groupAt("239.10.19.1", freePort(t))
		args := []string{"listen", g, "--count", strconv.Itoa(n), "--format", "json", "--duration", "120s"}
		l := startCmd(t, w.Command(t.Context(), exe, args...), append([]string{"(wine)"}, args...))
		l.listening(t, 1)
		code, _, sendErr := run(t, 60*time.Second, "send", g, "--count", strconv.Itoa(n), "--rate", "1000", "--size", strconv.Itoa(size))
		if code != 0 || sentCount(t, sendErr) != n {
			t.Fatalf("Linux send: exit %d: %s", code, sendErr)
		}
		if code := l.wait(t, 120*time.Second); code != 0 {
			t.Fatalf("Windows listen: exit %d", code)
		}
		checkStream(t, "Windows listen", l, n, size, "239.10.19.1")
	})

	t.Run("Linux listen, Windows send", func(t *testing.T) {
		testbed.Require(t)
		g := groupAt("239.10.19.2", freePort(t))
		l := start(t, "listen", g, "--count", strconv.Itoa(n), "--format", "json", "--duration", "120s")
		l.listening(t, 1)
		args := []string{"send", g, "--count", strconv.Itoa(n), "--rate", "1000", "--size", strconv.Itoa(size)}
		s := startCmd(t, w.Command(t.Context(), exe, args...), append([]string{"(wine)"}, args...))
		if code := s.wait(t, 120*time.Second); code != 0 || sentCount(t, s.stderr.String()) != n {
			t.Fatalf("Windows send: exit %d: %s", code, s.stderr.String())
		}
		if code := l.wait(t, 120*time.Second); code != 0 {
			t.Fatalf("Linux listen: exit %d", code)
		}
		checkStream(t, "Linux listen", l, n, size, "239.10.19.2")
	})
}
