package cli_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/sharecast/sharecast/internal/testbed"
)

// portsJSON is the output of ports --format json.
type portsJSON struct {
	Ports []struct {
		Port    uint16 `json:"port"`
		UIDs    []int  `json:"uids"`
		Warning string `json:"warning"`
		Sockets []struct {
			Family    string `json:"family"`
			Local     string `json:"local"`
			UID       int    `json:"uid"`
			User      string `json:"user"`
			Processes []struct {
				PID     int    `json:"pid"`
				Program string `json:"program"`
			} `json:"processes"`
			OtherUser bool `json:"other_user"`
		} `json:"sockets"`
	} `json:"ports"`
	Groups []struct {
		Interface string `json:"interface"`
		Group     string `json:"group"`
		Users     int    `json:"users"`
	} `json:"groups"`
}

// Acceptance 3, and issue 8: ports lists the three listeners of a port
// with pid and uid and flags the one of another user; a listener that
// shares the port with another user warns at start-up.
func TestPortsFlagsOtherUser(t *testing.T) {
	testbed.RequireRoot(t)
	port := freePort(t)
	g := groupAt("239.10.0.4", port)
	a := start(t, "listen", g)
	a.listening(t, 1)
	b := start(t, "listen", g)
	b.listening(t, 1)
	c := startAs(t, 65534, "listen", g)
	c.listening(t, 1)
	for name, p := range map[string]*proc{"root's": b, "nobody's": c} {
		if s := p.stderr.String(); strings.Contains(s, "another user") == (p == b) {
			t.Errorf("%s listener: warning about another user is %v, want %v:\n%s", name, strings.Contains(s, "another user"), p == c, s)
		}
	}
	if s := c.stderr.String(); !strings.Contains(s, fmt.Sprintf("port %d is also held by uid 0", port)) {
		t.Errorf("nobody's listener does not name root as the other user:\n%s", s)
	}

	code, out, errOut := run(t, 20*time.Second, "ports", strconv.Itoa(int(port)), "--format", "json")
	if code != 0 {
		t.Fatalf("ports: exit %d: %s", code, errOut)
	}
	var r portsJSON
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if len(r.Ports) != 1 || r.Ports[0].Port != port || len(r.Ports[0].Sockets) != 3 {
		t.Fatalf("ports: %s", out)
	}
	want := map[int]int{a.cmd.Process.Pid: 0, b.cmd.Process.Pid: 0, c.cmd.Process.Pid: 65534}
	for _, s := range r.Ports[0].Sockets {
		if len(s.Processes) != 1 {
			t.Fatalf("socket %+v: want one process", s)
		}
		uid, ok := want[s.Processes[0].PID]
		if !ok || s.UID != uid || s.OtherUser != (uid == 65534) || s.Local != fmt.Sprintf("0.0.0.0:%d", port) {
			t.Errorf("socket %+v: want pid among %v, uid %d, flagged %v", s, want, uid, uid == 65534)
		}
		delete(want, s.Processes[0].PID)
	}
	if len(want) != 0 {
		t.Errorf("listeners not listed: %v", want)
	}
	if w := r.Ports[0].Warning; !strings.Contains(w, "65534") || !strings.Contains(w, "multicast") || !strings.Contains(w, "unicast") {
		t.Errorf("warning: %q", w)
	}
	joined := false
	for _, gr := range r.Groups {
		joined = joined || gr.Interface == "lo" && gr.Group == "239.10.0.4" && gr.Users == 3
	}
	if !joined {
		t.Errorf("groups: %+v, want 239.10.0.4 on lo with 3 sockets", r.Groups)
	}

	code, out, _ = run(t, 20*time.Second, "ports", strconv.Itoa(int(port)))
	if code != 0 || strings.Count(out, "<- another user") != 1 || !strings.Contains(out, "3 sockets, 2 users") {
		t.Errorf("ports text: exit %d:\n%s", code, out)
	}
}

// Acceptance 5: the demo ends by itself with exit 0 and a summary in which
// every receiver got every datagram.
func TestDemo(t *testing.T) {
	testbed.Require(t)
	code, out, errOut := run(t, 90*time.Second, "demo")
	noPanic(t, out, errOut)
	if code != 0 {
		t.Fatalf("demo: exit %d\n%s\n%s", code, out, errOut)
	}
	if !strings.Contains(out, "Every receiver got every datagram: 7 receivers x 8000 datagrams, in order, byte for byte.") {
		t.Fatalf("demo summary:\n%s", out)
	}
	// The last table: every receiver, 8000 of 8000, nothing missing.
	row := regexp.MustCompile(`(?m)^\s+(r[1-4]|d/h[1-3])\s+\d+\s+(process|handler \d)\s+8000\s+8000\s+0\s+0\s+0\s+0\s+0$`)
	header := regexp.MustCompile(`(?m)^\s+receiver\s+pid\s+kind`)
	hs := header.FindAllStringIndex(out, -1)
	if len(hs) == 0 {
		t.Fatalf("no table:\n%s", out)
	}
	tail := out[hs[len(hs)-1][0]:]
	if n := len(row.FindAllString(tail, -1)); n != 7 {
		t.Fatalf("%d complete rows in the last table, want 7:\n%s", n, tail)
	}
}

// Acceptance 6: a bad group spec, an unknown interface, a bad flag: exit
// 2 with a one-line error that names it and the usage line; a port held
// exclusively: exit 1 with a one-line error. Nothing panics.
func TestErrors(t *testing.T) {
	testbed.Require(t)
	port := freePort(t)
	g := groupAt("239.10.0.5", port)
	cases := []struct {
		args  []string
		code  int
		names string
	}{
		{[]string{"listen", "10.1.2.3:5000"}, 2, `"10.1.2.3"`},
		{[]string{"listen", "239.1.2.3:0"}, 2, "port"},
		{[]string{"listen", "239.1.2.3"}, 2, `"239.1.2.3"`},
		{[]string{"listen", "232.1.1.1:5000"}, 2, "source"},
		{[]string{"listen", g, "-i", "nosuch0"}, 2, `"nosuch0"`},
		{[]string{"listen", g + "%nosuch0"}, 2, "nosuch0"},
		{[]string{"stat", g, "--iface", "nosuch0"}, 2, `"nosuch0"`},
		{[]string{"send", g, "-i", "nosuch0"}, 2, `"nosuch0"`},
		{[]string{"send", "239.1.2.3:99999"}, 2, "port"},
		{[]string{"listen", g, "--count", "many"}, 2, "--count"},
		{[]string{"listen", g, "--bogus"}, 2, "--bogus"},
		{[]string{"listen", g, "--share", "friends"}, 2, "--share"},
		{[]string{"listen", g, "--log-level", "loud"}, 2, "--log-level"},
		{[]string{"listen"}, 2, "no GROUP"},
		{[]string{"send"}, 2, "one GROUP"},
		{[]string{"send", g, "--size", "8"}, 2, "--size"},
		{[]string{"stat", g, "--format", "xml"}, 2, "--format"},
		{[]string{"ports", "0"}, 2, `"0"`},
		{[]string{"matrix", "--family", "5"}, 2, "--family"},
		{[]string{"bogus"}, 2, `"bogus"`},
		// Numbers with units, and what the OS cannot take.
		{[]string{"send", g, "--rate", "NaN"}, 2, "--rate"},
		{[]string{"send", g, "--rate", "fast"}, 2, "not a rate"},
		{[]string{"send", g, "--size", "big"}, 2, "not a size"},
		{[]string{"send", g, "--rate", "Inf"}, 2, "--rate"},
		{[]string{"send", g, "--rate", "-1"}, 2, "--rate"},
		{[]string{"send", g, "--rate", "20M"}, 2, "10M"},
		{[]string{"listen", g, "--rcvbuf", "3000000000"}, 2, "1073741823"},
		{[]string{"listen", g, "--rcvbuf", "2147483648"}, 2, "1073741823"},
		{[]string{"listen", g, "--rcvbuf", "4294967296"}, 2, "1073741823"},
		{[]string{"listen", g, "--rcvbuf", "1e12"}, 2, "1073741823"},
		{[]string{"listen", g, "--rcvbuf", "9223372036854775807"}, 2, "1073741823"},
		{[]string{"listen", g, "--rcvbuf", "4MB/s"}, 2, "--rcvbuf"},
		{[]string{"listen", g, "--count", "-1"}, 2, "not a count"},
		{[]string{"listen", g, "--buffer", "70000"}, 2, "65535"},
		// Flags that do not go together, and sources that are not local.
		{[]string{"listen", g, "--payload", "hex"}, 2, "--payload"},
		{[]string{"send", g, "--stdin", "--size", "100"}, 2, "--size"},
		{[]string{"send", g, "--stdin", "--stream", "7"}, 2, "--stream"},
		{[]string{"send", fmt.Sprintf("232.1.1.1:%d@10.9.9.9", port), "--count", "1"}, 2, "10.9.9.9 is not an address of this host"},
		{[]string{"send", fmt.Sprintf("232.1.1.1:%d@127.0.0.2", port), "--source-addr", "127.0.0.3"}, 2, "127.0.0.2"},
		{[]string{"matrix", "--specific", "10.0.0.1"}, 2, "not an address of this host"},
		{[]string{"matrix", "--other-uid", "-1"}, 2, "--other-uid"},
	}
	for _, c := range cases {
		t.Run(strings.Join(c.args, " "), func(t *testing.T) {
			code, out, errOut := run(t, 20*time.Second, c.args...)
			noPanic(t, out, errOut)
			checkError(t, code, errOut, c.code, c.names)
		})
	}
	t.Run("port held exclusively", func(t *testing.T) {
		x := start(t, "listen", g, "--share", "exclusive")
		x.listening(t, 1)
		for _, share := range []string{"any", "user", "exclusive"} {
			code, out, errOut := run(t, 20*time.Second, "listen", g, "--share", share)
			noPanic(t, out, errOut)
			checkError(t, code, errOut, 1, fmt.Sprintf("port %d", port))
			if !strings.Contains(errOut, "port in use") {
				t.Errorf("--share %s: %s", share, errOut)
			}
		}
	})
}

// checkError checks an exit status and the error lines of stderr (those
// that are not JSON log lines).
func checkError(t *testing.T, code int, stderr string, wantCode int, names string) {
	t.Helper()
	var msgs []string
	for _, l := range lines(stderr) {
		if !strings.HasPrefix(l, "{") {
			msgs = append(msgs, l)
		}
	}
	if code != wantCode || len(msgs) == 0 || !strings.HasPrefix(msgs[0], "sharecast") || !strings.Contains(msgs[0], names) {
		t.Fatalf("exit %d, want %d; error lines %q, want the first to name %s", code, wantCode, msgs, names)
	}
	if strings.Contains(msgs[0], "strconv.") {
		t.Errorf("strconv's message, not ours: %q", msgs[0])
	}
	for _, pkg := range []string{"group: ", "mcast: ", "dispatch: ", "natsrelay: "} {
		if strings.Count(msgs[0], pkg) > 1 {
			t.Errorf("%q stutters in %q", pkg, msgs[0])
		}
	}
	wantLines := 1
	if wantCode == 2 {
		wantLines = 3
		if !strings.HasPrefix(msgs[1], "Usage: sharecast") || !strings.Contains(msgs[2], "--help") {
			t.Errorf("no usage line: %q", msgs)
		}
	}
	if len(msgs) != wantLines {
		t.Errorf("%d error lines, want %d: %q", len(msgs), wantLines, msgs)
	}
}

var summaryRE = regexp.MustCompile(`received (\d+) datagrams?, (\d+) bytes? in [^;]+; kernel drops (\d+), truncated (\d+), filtered (\d+);`)

// Acceptance 7: --metrics serves /metrics that Prometheus's text parser
// accepts, with per-socket counters that match the summary.
func TestMetrics(t *testing.T) {
	testbed.Require(t)
	const n = 1000
	port := freePort(t)
	g := groupAt("239.10.0.7", port)
	l := start(t, "listen", g, "--format", "json", "--metrics", "127.0.0.1:0")
	st := start(t, "stat", g, "--format", "json", "--metrics", "127.0.0.1:0")
	l.listening(t, 1)
	st.listening(t, 1)
	code, _, sendErr := run(t, 30*time.Second, "send", g, "--count", strconv.Itoa(n), "--rate", "5000")
	if code != 0 {
		t.Fatalf("send: exit %d: %s", code, sendErr)
	}
	if err := testbed.Pace(port, 1, 20*time.Second); err != nil {
		t.Fatal(err)
	}
	l.stdout.waitFor(t, "1000 datagrams printed", 20*time.Second, func(s string) bool { return len(lines(s)) >= n })

	sock := fmt.Sprintf("udp4:%d", port)
	for _, p := range []*proc{l, st} {
		mfs := scrape(t, metricsURL(t, p))
		value := func(name string, labels ...string) float64 {
			t.Helper()
			v, ok := metricValue(mfs, name, labels...)
			if !ok {
				t.Fatalf("%v: no %s%v", p.args[0], name, labels)
			}
			return v
		}
		if p == l {
			if v := value("sharecast_handler_delivered_total", "handler", "print"); v != n {
				t.Errorf("handler print delivered %v", v)
			}
		} else if v := value("sharecast_group_lost_total", "group", "239.10.0.7", "port", strconv.Itoa(int(port))); v != 0 {
			t.Errorf("stat: lost %v", v)
		}
		checkLabels(t, mfs)
		if v := value("sharecast_group_datagrams_total", "group", "239.10.0.7", "port", strconv.Itoa(int(port))); v != n {
			t.Errorf("%s: group datagrams %v", p.args[0], v)
		}
		scraped := []float64{
			value("sharecast_socket_datagrams_total", "socket", sock),
			value("sharecast_socket_bytes_total", "socket", sock),
			value("sharecast_socket_kernel_drops_total", "socket", sock),
			value("sharecast_socket_truncated_total", "socket", sock),
			value("sharecast_socket_filtered_total", "socket", sock),
		}
		if scraped[0] != n || scraped[1] != n*64 {
			t.Errorf("%s: socket counters %v", p.args[0], scraped)
		}
		if code := p.stop(t); code != 0 {
			t.Fatalf("%s: exit %d", p.args[0], code)
		}
		m := summaryRE.FindStringSubmatch(p.stderr.String())
		if m == nil {
			t.Fatalf("%s: no summary in\n%s", p.args[0], p.stderr.String())
		}
		for i, s := range m[1:] {
			if v, _ := strconv.ParseFloat(s, 64); v != scraped[i] {
				t.Errorf("%s: summary %q, metrics %v", p.args[0], m[0], scraped)
				break
			}
		}
	}
}

// metricsURL reads the metrics address from the process's log.
func metricsURL(t *testing.T, p *proc) string {
	t.Helper()
	var url string
	p.stderr.waitFor(t, "metrics address", 20*time.Second, func(s string) bool {
		for _, l := range lines(s) {
			var ev struct {
				Message, URL string
			}
			if json.Unmarshal([]byte(l), &ev) == nil && ev.Message == "serving metrics" {
				url = ev.URL
				return true
			}
		}
		return false
	})
	return url
}

func scrape(t *testing.T, url string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s, %v", url, resp.Status, err)
	}
	p := expfmt.NewTextParser(model.LegacyValidation)
	mfs, err := p.TextToMetricFamilies(strings.NewReader(string(body)))
	if err != nil {
		t.Fatalf("the text parser refuses /metrics: %v\n%s", err, body)
	}
	return mfs
}

// metricValue returns the value of the metric name whose labels include
// the name-value pairs given.
func metricValue(mfs map[string]*dto.MetricFamily, name string, labels ...string) (float64, bool) {
	mf, ok := mfs[name]
	if !ok {
		return 0, false
	}
next:
	for _, m := range mf.GetMetric() {
		for i := 0; i+1 < len(labels); i += 2 {
			found := false
			for _, lp := range m.GetLabel() {
				found = found || lp.GetName() == labels[i] && lp.GetValue() == labels[i+1]
			}
			if !found {
				continue next
			}
		}
		switch {
		case m.GetCounter() != nil:
			return m.GetCounter().GetValue(), true
		case m.GetGauge() != nil:
			return m.GetGauge().GetValue(), true
		}
	}
	return 0, false
}

// checkLabels checks one label scheme over every series, as PromQL joins
// need: a group metric is labelled group (an address) and port (a number),
// a socket metric socket and local, a handler metric handler (and cause).
func checkLabels(t *testing.T, mfs map[string]*dto.MetricFamily) {
	t.Helper()
	for name, mf := range mfs {
		var want []string
		switch {
		case strings.HasPrefix(name, "sharecast_group_"):
			want = []string{"group", "port"}
		case strings.HasPrefix(name, "sharecast_socket_"):
			want = []string{"local", "socket"}
		case name == "sharecast_handler_dropped_total":
			want = []string{"cause", "handler"}
		case strings.HasPrefix(name, "sharecast_handler_"):
			want = []string{"handler"}
		default:
			continue
		}
		for _, m := range mf.GetMetric() {
			var got []string
			for _, lp := range m.GetLabel() {
				got = append(got, lp.GetName())
				switch lp.GetName() {
				case "group":
					if _, err := netip.ParseAddr(lp.GetValue()); err != nil {
						t.Errorf("%s: group label %q is not an address", name, lp.GetValue())
					}
				case "port":
					if _, err := strconv.ParseUint(lp.GetValue(), 10, 16); err != nil {
						t.Errorf("%s: port label %q is not a port", name, lp.GetValue())
					}
				}
			}
			slices.Sort(got)
			if !slices.Equal(got, want) {
				t.Errorf("%s: labels %v, want %v", name, got, want)
			}
		}
	}
}
