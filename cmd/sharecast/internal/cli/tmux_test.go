package cli_test

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/sharecast/sharecast/internal/extest"
	"github.com/sharecast/sharecast/internal/testbed"
)

// stat in a real terminal of 80 columns (tmux): the live table fits the
// width, on a screen of its own; Ctrl-C gives the screen back with the
// final table on it and nothing of the live ones.
func TestStatTerminal(t *testing.T) {
	testbed.Require(t)
	tmux := extest.RequireCommand(t, "tmux", "tmux")
	exe := program(t)
	sock := filepath.Join(t.TempDir(), "tmux.sock")
	port := freePort(t)
	g1, g2 := groupAt("[ff15::7:1234:5678]", port), groupAt("239.10.0.80", port)
	tm := func(args ...string) string {
		t.Helper()
		out, err := exec.Command(tmux, append([]string{"-S", sock}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("tmux %s: %v: %s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	// The pane stays after stat exits, so that what it left can be read.
	tm("-f", "/dev/null", "new-session", "-d", "-s", "stat", "-x", "80", "-y", "30",
		exe+" stat "+g1+" "+g2+" --interval 200ms --log-level warn; echo exited $?; sleep 60")
	t.Cleanup(func() { exec.Command(tmux, "-S", sock, "kill-server").Run() })
	screen := func() string { return tm("capture-pane", "-p", "-t", "stat") }
	waitScreen := func(what string, ok func(string) bool) string {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for {
			s := screen()
			if ok(s) {
				return s
			}
			if time.Now().After(deadline) {
				t.Fatalf("no %s on the screen:\n%s", what, s)
			}
			time.Sleep(20 * time.Millisecond) // polling the terminal's contents; there is no signal to wait on
		}
	}
	waitScreen("live table", func(s string) bool { return strings.Contains(s, "(every") })
	if code, _, e := run(t, 30*time.Second, "send", g1, "--count", "300", "--rate", "1000"); code != 0 {
		t.Fatalf("send: %s", e)
	}
	live := waitScreen("300 received", func(s string) bool { return strings.Contains(s, " 300 ") })
	for _, l := range strings.Split(live, "\n") {
		if utf8.RuneCountInString(l) > 80 {
			t.Errorf("a line of %d columns on an 80-column terminal: %q", utf8.RuneCountInString(l), l)
		}
	}
	if !strings.Contains(live, "[ff15::7:1234:5678]") || !strings.Contains(live, "239.10.0.80") || !strings.Contains(live, "pps") {
		t.Errorf("the live table lacks a group or the rate:\n%s", live)
	}
	tm("send-keys", "-t", "stat", "C-c")
	final := waitScreen("exit", func(s string) bool { return strings.Contains(s, "exited ") })
	if !strings.Contains(final, "exited 0") || strings.Count(final, "sharecast stat ") != 1 ||
		!strings.Contains(final, "(final, over the run)") || strings.Contains(final, "(every") {
		t.Errorf("after Ctrl-C the screen should hold the final table alone:\n%s", final)
	}
}

// program returns the sharecast program as go build makes it (without the
// race detector), built into the test's temporary directory: tmux runs it
// as a command line, where the test binary's helper cannot be named.
func program(t *testing.T) string {
	t.Helper()
	exe := filepath.Join(t.TempDir(), "sharecast")
	out, err := exec.Command("go", "build", "-o", exe, "github.com/sharecast/sharecast/cmd/sharecast").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v: %s", err, out)
	}
	return exe
}
