package cli_test

import (
	"os"
	"strings"
	"testing"

	"github.com/sharecast/sharecast/cmd/sharecast/internal/cli"
	"github.com/sharecast/sharecast/group"
)

// The fixture is iptables-save's output for a ruleset with DROP and REJECT
// rules that select UDP feeds by port, port list and range, address, and
// a negated port, in INPUT, a user chain and raw PREROUTING; and rules
// that do not apply (TCP, an ACCEPT, FORWARD, OUTPUT).
func TestDoctorIptablesRules(t *testing.T) {
	save, err := os.ReadFile("testdata/iptables-save.txt")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		spec string
		want []string // prefixes, in order
	}{
		{"239.1.1.1:5000", []string{"problem 239.1.1.1:5000: iptables rule 2 of table filter chain INPUT (-A INPUT -p udp -m udp --dport 5000 -j DROP) drops"}},
		{"239.1.1.1:5003", []string{"problem 239.1.1.1:5003: iptables rule 5 of table filter chain INPUT (-A INPUT -p udp -m multiport --dports 4999,5003,6000:6010"}},
		{"239.1.1.1:6010", []string{"problem 239.1.1.1:6010: iptables rule 5 of table filter chain INPUT"}},
		{"239.1.2.7:1234", []string{"problem 239.1.2.7:1234: iptables rule 1 of table filter chain feeds"}},
		{"239.7.1.1:7001", []string{"problem 239.7.1.1:7001: iptables rule 2 of table filter chain feeds"}},
		{"239.3.0.1:1234", []string{"problem 239.3.0.1:1234: iptables rule 1 of table raw chain PREROUTING (-A PREROUTING -d 239.3.0.0/16 -p udp -j DROP) drops"}},
		{"239.7.1.1:7000", nil}, // the negated port
		{"239.1.1.1:7100", nil}, // TCP's rule; UDP's is an ACCEPT
		{"239.1.1.1:9000", nil}, // FORWARD
		{"239.1.1.1:9001", nil}, // OUTPUT
		{"239.1.1.1:6011", nil},
		{"[ff1e::1]:5000", nil}, // IPv4's rules
	} {
		got := cli.IptablesDrops(save, []group.Spec{group.MustParseSpec(c.spec)}, false)
		if len(got) != len(c.want) {
			t.Errorf("%s: got %q, want %d lines", c.spec, got, len(c.want))
			continue
		}
		for i, w := range c.want {
			if !strings.HasPrefix(got[i], w) {
				t.Errorf("%s: got %q, want %q...", c.spec, got[i], w)
			}
		}
	}
	if got := cli.IptablesDrops(save, []group.Spec{group.MustParseSpec("[ff1e::1]:5000")}, true); len(got) != 1 {
		t.Errorf("ip6tables-save of the same rules: got %q, want rule 2 of INPUT", got)
	}
}
