package cli

import (
	"bufio"
	"bytes"
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/sharecast/sharecast/group"
)

// iptablesDrops finds, in the output of iptables-save (ip6tables-save when
// v6), the rules whose target is DROP or REJECT and whose matches all hold
// for UDP to one of specs of the family: a protocol (-p), a destination
// port (--dport, --dports) or a destination address (-d) that the feed
// has, and any other match, which doctor does not read, taken to hold, so
// that a rule is reported rather than missed. Rules of OUTPUT, FORWARD and
// POSTROUTING, which received datagrams do not pass, are skipped. Each is
// named by table, chain and number in its chain, as iptables -D takes it.
func iptablesDrops(save []byte, specs []group.Spec, v6 bool) []nftDrop {
	cmd := "iptables"
	if v6 {
		cmd = "ip6tables"
	}
	var out []nftDrop
	table := ""
	num := map[string]int{} // rules so far of each chain of table
	sc := bufio.NewScanner(bytes.NewReader(save))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case strings.HasPrefix(line, "*"):
			table, num = line[1:], map[string]int{}
			continue
		case !strings.HasPrefix(line, "-A "):
			continue
		}
		args := iptablesFields(line)
		if len(args) < 2 {
			continue
		}
		chain := args[1]
		num[chain]++
		if chain == "OUTPUT" || chain == "FORWARD" || chain == "POSTROUTING" {
			continue
		}
		rl := parseIptablesRule(args[2:])
		if rl.target != "DROP" && rl.target != "REJECT" {
			continue
		}
		for _, sp := range specs {
			if sp.Group.Is6() != v6 || !rl.matchesFeed(sp) {
				continue
			}
			out = append(out, nftDrop{
				status:  statusProblem,
				subject: sp.String(),
				seen:    fmt.Sprintf("%s rule %d of table %s chain %s (%s) %ss UDP to the feed", cmd, num[chain], table, chain, line, strings.ToLower(rl.target)),
				fix:     fmt.Sprintf("%s -t %s -D %s %d (or accept the feed before it)", cmd, table, chain, num[chain]),
			})
			break
		}
	}
	return out
}

// iptablesFields splits a line of iptables-save into its words; a word in
// double quotes (a comment) is one, with \" and \\ unescaped.
func iptablesFields(line string) []string {
	var out []string
	var w strings.Builder
	in, quoted := false, false
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case quoted && c == '\\' && i+1 < len(line):
			i++
			w.WriteByte(line[i])
		case c == '"':
			quoted, in = !quoted, true
		case !quoted && (c == ' ' || c == '\t'):
			if in {
				out = append(out, w.String())
				w.Reset()
				in = false
			}
		default:
			w.WriteByte(c)
			in = true
		}
	}
	if in {
		out = append(out, w.String())
	}
	return out
}

// iptablesRule is what doctor reads of a rule of iptables-save.
type iptablesRule struct {
	target  string
	matches []iptablesMatch
}

// iptablesMatch is an option of a rule and its values; neg when "!" came
// before it.
type iptablesMatch struct {
	opt    string
	values []string
	neg    bool
}

// parseIptablesRule reads the options after "-A CHAIN".
func parseIptablesRule(args []string) iptablesRule {
	var rl iptablesRule
	neg := false
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "!" {
			neg = true
			continue
		}
		if !strings.HasPrefix(a, "-") {
			continue // a value of an option that took a "!" after it
		}
		m := iptablesMatch{opt: a, neg: neg}
		neg = false
		for i+1 < len(args) && args[i+1] != "!" && !strings.HasPrefix(args[i+1], "-") {
			i++
			m.values = append(m.values, args[i])
		}
		// iptables-save writes "--dport ! 5000" in old versions: the "!"
		// after the option.
		if i+2 < len(args) && args[i+1] == "!" && len(m.values) == 0 && !strings.HasPrefix(args[i+2], "-") {
			m.neg, m.values = true, []string{args[i+2]}
			i += 2
		}
		switch a {
		case "-j", "--jump":
			if len(m.values) > 0 {
				rl.target = m.values[0]
			}
		case "-m", "--match", "-g", "--goto":
		default:
			rl.matches = append(rl.matches, m)
		}
	}
	return rl
}

// relevant reports whether the match selects by what a feed has: its
// protocol, its destination port or its destination address.
func (m iptablesMatch) relevant() bool {
	switch m.opt {
	case "-p", "--protocol", "--dport", "--destination-port", "--dports", "--destination-ports", "-d", "--destination":
		return true
	}
	return false
}

// holds reports whether the match holds for UDP to sp; one that doctor
// does not read holds.
func (m iptablesMatch) holds(sp group.Spec) bool {
	if len(m.values) == 0 {
		return true
	}
	v := m.values[0]
	var has bool
	switch m.opt {
	case "-p", "--protocol":
		has = v == "udp" || v == "17" || v == "all" || v == "0"
	case "--dport", "--destination-port", "--dports", "--destination-ports":
		for _, r := range strings.Split(v, ",") {
			lo, hi, isRange := strings.Cut(r, ":")
			l, err1 := strconv.Atoi(lo)
			h := l
			var err2 error
			if isRange {
				h, err2 = strconv.Atoi(hi)
			}
			if err1 == nil && err2 == nil && int(sp.Port) >= l && int(sp.Port) <= h {
				has = true
			}
		}
	case "-d", "--destination":
		for _, d := range strings.Split(v, ",") {
			if pf, err := netip.ParsePrefix(d); err == nil && pf.Contains(sp.Group) {
				has = true
			} else if a, err := netip.ParseAddr(d); err == nil && a == sp.Group {
				has = true
			}
		}
	default:
		return true
	}
	return has != m.neg
}

// matchesFeed reports whether the rule selects UDP to sp: it has a match
// on the protocol, the port or the address, and all its matches hold.
func (rl iptablesRule) matchesFeed(sp group.Spec) bool {
	relevant := false
	for _, m := range rl.matches {
		if m.relevant() {
			relevant = true
		}
		if !m.holds(sp) {
			return false
		}
	}
	return relevant && sp.Port != 0
}
