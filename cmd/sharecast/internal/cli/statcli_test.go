package cli_test

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/sharecast/sharecast/internal/testbed"
)

// stat lists every group asked for, also one that received nothing, with
// how long it has been silent; --max-silence ends it with status 1 on a
// dead feed; its summary says what --count left uncounted; jitter is
// reported; --format csv writes a header and a row a group.
func TestStatSilentGroupsAndCounts(t *testing.T) {
	testbed.Require(t)
	port := freePort(t)
	live, dead := groupAt("239.10.0.90", port), groupAt("239.10.0.91", port)

	js := start(t, "stat", live, dead, "--format", "json", "--count", "7", "--interval", "100ms")
	cs := start(t, "stat", live, dead, "--format", "csv", "--count", "20", "--interval", "100ms")
	js.listening(t, 1)
	cs.listening(t, 1)
	if code, _, e := run(t, 30*time.Second, "send", live, "--count", "20", "--rate", "2000"); code != 0 {
		t.Fatalf("send: %s", e)
	}
	for _, p := range []*proc{js, cs} {
		if code := p.wait(t, 30*time.Second); code != 0 {
			t.Fatalf("%v: exit %d", p.args, code)
		}
	}
	ls := lines(js.stdout.String())
	var last struct {
		Final  bool
		Groups []struct {
			Group     string
			Datagrams uint64
			Numbers   uint64
			JitterUS  float64 `json:"jitter_us"`
			SilentS   float64 `json:"silent_s"`
		}
	}
	if err := json.Unmarshal([]byte(ls[len(ls)-1]), &last); err != nil || !last.Final || len(last.Groups) != 2 {
		t.Fatalf("final line %q: %v", ls[len(ls)-1], err)
	}
	for _, g := range last.Groups {
		switch g.Group {
		case live:
			if g.Datagrams != 7 || g.Numbers != 7 {
				t.Errorf("live group: %+v, want 7 datagrams counted", g)
			}
		case dead:
			if g.Datagrams != 0 || g.SilentS <= 0 {
				t.Errorf("silent group: %+v, want 0 datagrams and a silence", g)
			}
		default:
			t.Errorf("group %q not asked for", g.Group)
		}
	}
	// The summary reconciles the 7 counted with what the handler received:
	// received = 7 + those it says were not counted.
	e := js.stderr.String()
	var received, past int
	if m := handlerRE.FindStringSubmatch(e); m != nil {
		fmt.Sscan(m[1], &received)
	}
	if _, after, ok := strings.Cut(e, "stat counted the first 7 datagrams (--count 7); "); ok {
		fmt.Sscan(after, &past)
	}
	if received == 0 || received != 7+past {
		t.Errorf("the handler received %d, stat counted 7 and says %d were not counted:\n%s", received, past, e)
	}

	rows, err := csv.NewReader(strings.NewReader(cs.stdout.String())).ReadAll()
	if err != nil || len(rows) < 3 || rows[0][0] != "time" || rows[0][3] != "group" {
		t.Fatalf("csv: %v\n%s", err, cs.stdout.String())
	}
	final := map[string][]string{}
	for _, r := range rows[1:] {
		if len(r) != len(rows[0]) {
			t.Fatalf("csv row of %d fields, header has %d: %q", len(r), len(rows[0]), r)
		}
		if r[2] == "true" {
			final[r[3]] = r
		}
	}
	if r := final[live]; r == nil || r[5] != "20" || r[19] == "0" {
		t.Errorf("csv final row of %s: %q, want 20 datagrams and a jitter", live, r)
	}
	if r := final[dead]; r == nil || r[5] != "0" {
		t.Errorf("csv final row of %s: %q, want 0 datagrams", dead, r)
	}

	// A feed that stays dead ends stat with status 1, naming the group.
	code, _, e2 := run(t, 30*time.Second, "stat", dead, "--max-silence", "300ms", "--format", "json")
	if code != 1 || !strings.Contains(e2, fmt.Sprintf("group %s is silent", dead)) {
		t.Errorf("stat --max-silence on a dead group: exit %d, want 1 naming it:\n%s", code, e2)
	}
	// listen takes it too.
	code, _, e2 = run(t, 30*time.Second, "listen", dead, "--max-silence", "300ms")
	if code != 1 || !strings.Contains(e2, "is silent") {
		t.Errorf("listen --max-silence on a dead group: exit %d, want 1:\n%s", code, e2)
	}
}
