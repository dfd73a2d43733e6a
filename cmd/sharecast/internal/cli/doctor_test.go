package cli_test

import (
	"os"
	"strings"
	"testing"

	"github.com/sharecast/sharecast/cmd/sharecast/internal/cli"
	"github.com/sharecast/sharecast/group"
)

// The ruleset is nft -j list ruleset of a namespace where these were added:
//
//	inet f in (hook input, policy accept):
//	  handle 2   udp dport 5000 drop
//	  handle 4   udp dport { 4999, 5003 } reject
//	  handle 5   udp dport 6000-6010 drop
//	  handle 6   ip daddr 239.1.2.0/24 drop
//	  handle 7   meta l4proto udp ip daddr 239.9.9.9 drop
//	  handle 8   tcp dport 7100 drop
//	  handle 9   udp dport 7100 accept
//	  handle 10  udp dport != 7000 ip daddr 239.7.0.0/16 drop
//	ip g pre (hook prerouting, policy drop):
//	  handle 2   udp dport 8000 accept
func TestDoctorFirewallRules(t *testing.T) {
	js, err := os.ReadFile("testdata/nft-ruleset.json")
	if err != nil {
		t.Fatal(err)
	}
	const policy = "warning %s: nftables chain ip g pre (hook prerouting) has policy drop"
	for _, c := range []struct {
		spec string
		want []string // prefixes, in order
	}{
		{"239.1.1.1:5000", []string{"problem 239.1.1.1:5000: nftables rule inet f in handle 2 drops", policy}},
		{"239.1.1.1:5003", []string{"problem 239.1.1.1:5003: nftables rule inet f in handle 4 rejects", policy}},
		{"239.1.1.1:6010", []string{"problem 239.1.1.1:6010: nftables rule inet f in handle 5 drops", policy}},
		{"239.1.2.7:1234", []string{"problem 239.1.2.7:1234: nftables rule inet f in handle 6 drops", policy}},
		{"239.9.9.9:1234", []string{"problem 239.9.9.9:1234: nftables rule inet f in handle 7 drops", policy}},
		{"239.7.1.1:7001", []string{"problem 239.7.1.1:7001: nftables rule inet f in handle 10 drops", policy}},
		{"239.7.1.1:7000", []string{policy}}, // != 7000 does not hold
		{"239.1.1.1:7100", []string{policy}}, // a TCP rule, and an accept in a chain whose policy accepts
		{"239.1.1.1:8000", nil},              // accepted where the policy drops
		{"[ff15::1]:5000", []string{"problem [ff15::1]:5000: nftables rule inet f in handle 2 drops"}}, // ip g does not see IPv6
		{"[ff15::1]:6009", []string{"problem [ff15::1]:6009: nftables rule inet f in handle 5 drops"}},
		{"[ff15::1]:1234", nil}, // ip daddr rules do not see IPv6
	} {
		got, err := cli.FirewallDrops(js, []group.Spec{group.MustParseSpec(c.spec)})
		if err != nil {
			t.Fatal(err)
		}
		ok := len(got) == len(c.want)
		for i := 0; ok && i < len(got); i++ {
			w := strings.Replace(c.want[i], "%s", c.spec, 1)
			ok = strings.HasPrefix(got[i], w)
		}
		if !ok {
			t.Errorf("%s:\n got %q\nwant %q", c.spec, got, c.want)
		}
	}
}

// FuzzDoctorFirewallRules: nft's JSON, whatever it holds, is read without
// a panic or an endless loop (a range of 1e300 ports), and what is reported
// is a problem or a warning.
func FuzzDoctorFirewallRules(f *testing.F) {
	js, err := os.ReadFile("testdata/nft-ruleset.json")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(js)
	f.Add([]byte(`{"nftables":[{"rule":{"expr":[{"match":{"op":"==","left":{"payload":{"protocol":"udp","field":"dport"}},"right":{"range":[0,1e300]}}},{"drop":null}]}}]}`))
	f.Add([]byte(`{"nftables":[{"chain":{"hook":"input","policy":"drop"}},{"rule":{"expr":[{"match":{"right":{"set":[{"prefix":{}}]}}}]}}]}`))
	specs := []group.Spec{group.MustParseSpec("239.1.1.1:5000"), group.MustParseSpec("[ff15::1]:6005")}
	f.Fuzz(func(t *testing.T, js []byte) {
		got, err := cli.FirewallDrops(js, specs)
		if err != nil {
			return
		}
		for _, g := range got {
			if !strings.HasPrefix(g, "problem ") && !strings.HasPrefix(g, "warning ") {
				t.Fatalf("%q: want a problem or a warning", g)
			}
		}
	})
}
