package cli_test

import (
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/sharecast/sharecast/internal/testbed"
)

// "-i '*'" and "GROUP%*" are the same lookup (group.LookupInterfaces): both
// join on every interface that is up and multicast-capable (lo, in the test
// bed), and both receive every datagram; a bad -i is a usage error that
// names the flag, as a bad %IFACE names the spec.
func TestListenIfaceStarIsSpecStar(t *testing.T) {
	testbed.Require(t)
	port := freePort(t)
	g := groupAt("239.10.0.42", port)
	flag := start(t, "listen", "-i", "*", g, "--count", "3", "--format", "json")
	spec := start(t, "listen", g+"%*", "--count", "3", "--format", "json")
	flag.listening(t, 1)
	spec.listening(t, 1)
	joined := regexp.MustCompile(`"groups":\[[^]]*\]`)
	if a, b := joined.FindString(flag.stderr.String()), joined.FindString(spec.stderr.String()); a == "" || a != b {
		t.Errorf("joined with -i '*': %s; with %%*: %s", a, b)
	}
	if code, _, e := run(t, 20*time.Second, "send", g, "--count", "3"); code != 0 {
		t.Fatalf("send: %s", e)
	}
	for _, p := range []*proc{flag, spec} {
		if code := p.wait(t, 20*time.Second); code != 0 {
			t.Fatalf("%v: exit %d", p.args, code)
		}
		ls := lines(p.stdout.String())
		if len(ls) != 3 || strings.Count(p.stdout.String(), `"interface":"lo"`) != 3 {
			t.Errorf("%v: want 3 datagrams on lo, got:\n%s", p.args, p.stdout.String())
		}
	}

	code, _, stderr := run(t, 20*time.Second, "listen", "-i", "nosuch0", g)
	if code != 2 || !strings.Contains(stderr, `"--iface" flag`) || !strings.Contains(stderr, "nosuch0") {
		t.Errorf("listen -i nosuch0: exit %d, want 2 naming the flag and the interface:\n%s", code, stderr)
	}
	code, _, stderr = run(t, 20*time.Second, "listen", g+"%nosuch0")
	if code != 2 || !strings.Contains(stderr, "nosuch0") {
		t.Errorf("listen %s%%nosuch0: exit %d, want 2 naming the interface:\n%s", g, code, stderr)
	}
}
