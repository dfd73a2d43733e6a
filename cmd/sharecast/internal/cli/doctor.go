package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"net/netip"
	"slices"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/sharecast/sharecast/group"
	"github.com/sharecast/sharecast/mcast"
)

// Status of a doctor check.
const (
	statusOK      = "ok"
	statusWarning = "warning"
	statusProblem = "problem"
)

// DoctorCheck is one line of `sharecast doctor`: one check of one subject.
// It is the element of DoctorReport.Checks, the JSON schema that
// --format json prints.
type DoctorCheck struct {
	// Check names the check: interface, route, rp_filter, igmp, querier,
	// firewall, memberships, sources, rcvbuf, port, live, or groups (no
	// group asked and none joined).
	Check string `json:"check"`
	// Status is ok, warning or problem.
	Status string `json:"status"`
	// Subject is what was checked: a group spec, an interface, a port, or
	// "host" for a host-wide setting.
	Subject string `json:"subject"`
	// Seen says what doctor saw, with the numbers.
	Seen string `json:"seen"`
	// Fix is the command or setting that removes the warning or problem;
	// empty when the status is ok.
	Fix string `json:"fix,omitempty"`
}

// DoctorReport is what `sharecast doctor --format json` prints: the groups
// checked and one check a line, in the order of the text output.
type DoctorReport struct {
	// Groups are the group specs checked: those asked, or those joined on
	// this host when none was asked.
	Groups []string `json:"groups"`
	// Checks are the checks, in order.
	Checks []DoctorCheck `json:"checks"`
	// Problems and Warnings count the checks of each status; doctor exits
	// 1 when Problems is not 0.
	Problems int `json:"problems"`
	Warnings int `json:"warnings"`
}

// doctorOptions are doctor's command line.
type doctorOptions struct {
	specs  []group.Spec
	iface  string
	rcvbuf int
	listen time.Duration
}

func newDoctorCmd(e *env) *cobra.Command {
	var (
		format string
		opt    doctorOptions
	)
	opt.rcvbuf = mcast.DefaultReadBuffer
	cmd := &cobra.Command{
		Use:   "doctor [GROUP...]",
		Short: "Say why a multicast feed does not arrive, and what to change",
		Long: `doctor checks what stands between a multicast feed and its receivers on
this host, for each GROUP (or, with none, for each group that sockets on
this host have joined), and prints one line per check: ok, warning or
problem, what it saw (with the numbers), and the command or setting that
fixes it.

Checks:
  interface    the interface exists, is up, has the MULTICAST flag and an
               address of the group's family; without -i or %IFACE, the one
               the kernel picks by its routing table, and a warning when
               several could carry the group
  route        a route covers the group (224.0.0.0/4, ff00::/8), and where
               a send would go out
  rp_filter    strict reverse-path filtering (net.ipv4.conf.{all,IFACE}.rp_filter,
               the larger of the two) with a source whose reverse route is
               through another interface: the kernel drops its datagrams
               (IPReversePathFilter in /proc/net/netstat counts them)
  firewall     nftables rules (nft -j list ruleset) that drop or reject UDP
               to the port or the group, by table, chain and handle; and
               iptables rules (iptables-save, ip6tables-save) where installed
  memberships  the IPv4 groups on one socket against net.ipv4.igmp_max_memberships
  sources      the sources of one group against net.ipv4.igmp_max_msf, or
               net.ipv6.mld_max_msf (the initial namespace's: 64 by default)
  rcvbuf       the receive buffer asked (--rcvbuf) against net.core.rmem_max
  igmp         the IGMP/MLD version forced on the interface (force_igmp_version,
               force_mld_version) and, for IGMP, in force (/proc/net/igmp: an
               older querier heard): v1/v2 (MLDv1) cannot join a source-specific group
  querier      on a bridge (or a port of one) with multicast snooping, an
               IGMP/MLD querier, the bridge's own or one it hears on the
               segment: without one, the bridge prunes the group after the
               membership timeout (about 260 s); with --listen, the IGMP/MLD
               queriers heard on the groups' interfaces (a raw socket), and
               a warning where none was
  port         the sockets on the port (as 'sharecast ports'): sockets of
               more than one user, and a socket whose receive queue holds
               data while it drops (a listener that does not read); with
               --listen, a socket whose drops grew meanwhile
  live         with --listen: joins the groups for that long and counts
               datagrams, sources, TTLs, sequence gaps and numbers lost (where
               the payload has sharecast's or MoldUDP64's header), the socket's
               kernel drops, and the kernel's UDP errors and IPReversePathFilter
               over that time

Exit status: 0 when no check is a problem (warnings allowed), 1 otherwise,
2 for a usage error. Linux only.

JSON (--format json): one object,
  {"groups": [spec...], "checks": [{"check", "status", "subject", "seen",
   "fix"}...], "problems": N, "warnings": N}
with status "ok", "warning" or "problem", and "fix" left out when ok.`,
		Example: `  sharecast doctor 239.1.2.3:5000
  sharecast doctor 232.1.1.1:5000@10.0.0.1 -i eth0 --rcvbuf 64MiB
  sharecast doctor 239.1.2.3:5000 --listen 10s --format json
  sharecast doctor                 # every group joined on this host`,
		RunE: runE(func(cmd *cobra.Command, args []string) error {
			if format != "text" && format != "json" {
				return usagef("invalid argument %q for \"--format\" flag: want text or json", format)
			}
			for _, a := range args {
				sp, err := group.ParseSpec(a)
				if err != nil {
					return &usageError{err}
				}
				opt.specs = append(opt.specs, sp)
			}
			if opt.listen < 0 {
				return usagef("invalid argument %v for \"--listen\" flag: want a duration", opt.listen)
			}
			r, err := runDoctor(cmd, e, opt)
			if err != nil {
				return err
			}
			if err := writeDoctor(e.stdout, r, format); err != nil {
				return err
			}
			if r.Problems > 0 {
				return &exitError{ExitFailure}
			}
			return nil
		}),
	}
	f := cmd.Flags()
	f.StringVarP(&opt.iface, "iface", "i", "", "the interface to check the groups on (name, index or address); a spec's own %IFACE wins; default: the kernel's choice by its routing table")
	f.Var(&sizeValue{v: &opt.rcvbuf, max: mcast.MaxReadBuffer, why: " (1 GiB - 1: the most a socket takes)"}, "rcvbuf", "the receive buffer that the receivers ask for, checked against net.core.rmem_max")
	f.DurationVar(&opt.listen, "listen", 0, "join the groups for this long and report what arrives (0: do not listen)")
	f.StringVar(&format, "format", "text", "output format: text or json")
	return cmd
}

// writeDoctor prints the report: a line per check, or the JSON object.
func writeDoctor(w io.Writer, r *DoctorReport, format string) error {
	if format == "json" {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(r)
	}
	for _, c := range r.Checks {
		line := fmt.Sprintf("%-7s %-11s %s: %s", c.Status, c.Check, printable(c.Subject), printable(c.Seen))
		if c.Fix != "" {
			line += "; fix: " + printable(c.Fix)
		}
		if _, err := fmt.Fprintln(w, line); err != nil {
			return err
		}
	}
	_, err := fmt.Fprintf(w, "%s, %s\n", plural(uint64(r.Problems), "problem"), plural(uint64(r.Warnings), "warning"))
	return err
}

// nftDrop is a rule or chain policy that drops a feed.
type nftDrop struct{ status, subject, seen, fix string }

// nftRule is a rule of nft's JSON ruleset, with what doctor reads of it.
type nftRule struct {
	Family  string            `json:"family"`
	Table   string            `json:"table"`
	Chain   string            `json:"chain"`
	Handle  int               `json:"handle"`
	Expr    []json.RawMessage `json:"expr"`
	verdict string            // drop, reject, accept or ""
	matches []nftMatch
}

// nftChain is a chain of nft's JSON ruleset.
type nftChain struct {
	Family string `json:"family"`
	Table  string `json:"table"`
	Name   string `json:"name"`
	Hook   string `json:"hook"`
	Policy string `json:"policy"`
}

// firewallDrops finds, in nft's JSON ruleset (nft -j list ruleset), the
// rules whose verdict is drop or reject and whose matches all hold for UDP
// to one of specs (a destination port, a destination address, the protocol
// UDP; a match that doctor cannot read holds, so that a rule is reported
// rather than missed): a problem each. An input or prerouting chain whose
// policy is drop and in which no rule that doctor can read accepts the feed
// is a warning.
func firewallDrops(js []byte, specs []group.Spec) ([]nftDrop, error) {
	var doc struct {
		Nftables []struct {
			Rule  *nftRule  `json:"rule"`
			Chain *nftChain `json:"chain"`
		} `json:"nftables"`
	}
	if err := json.Unmarshal(js, &doc); err != nil {
		return nil, err
	}
	var rules []*nftRule
	var out []nftDrop
	for _, o := range doc.Nftables {
		rl := o.Rule
		if rl == nil {
			continue
		}
		rules = append(rules, rl)
		for _, raw := range rl.Expr {
			var ex map[string]json.RawMessage
			if json.Unmarshal(raw, &ex) != nil {
				continue
			}
			for _, v := range []string{"drop", "reject", "accept"} {
				if _, ok := ex[v]; ok {
					rl.verdict = v
				}
			}
			if m, ok := ex["match"]; ok {
				var nm nftMatch
				if json.Unmarshal(m, &nm) == nil {
					rl.matches = append(rl.matches, nm)
				}
			}
		}
		if rl.verdict != "drop" && rl.verdict != "reject" {
			continue
		}
		for _, sp := range specs {
			if nftFamilySees(rl.Family, sp.Group) && rl.matchesFeed(sp, true) {
				out = append(out, nftDrop{
					status:  statusProblem,
					subject: sp.String(),
					seen:    fmt.Sprintf("nftables rule %s %s %s handle %d %ss UDP to the feed", rl.Family, rl.Table, rl.Chain, rl.Handle, rl.verdict),
					fix:     fmt.Sprintf("nft delete rule %s %s %s handle %d (or accept the feed before it)", rl.Family, rl.Table, rl.Chain, rl.Handle),
				})
				break
			}
		}
	}
	for _, o := range doc.Nftables {
		c := o.Chain
		if c == nil || c.Policy != "drop" || (c.Hook != "input" && c.Hook != "prerouting") {
			continue
		}
		for _, sp := range specs {
			if sp.Port == 0 || !nftFamilySees(c.Family, sp.Group) {
				continue
			}
			accepted := slices.ContainsFunc(rules, func(rl *nftRule) bool {
				return rl.Family == c.Family && rl.Table == c.Table && rl.Chain == c.Name && rl.verdict == "accept" && rl.matchesFeed(sp, false)
			})
			if !accepted {
				out = append(out, nftDrop{
					status:  statusWarning,
					subject: sp.String(),
					seen:    fmt.Sprintf("nftables chain %s %s %s (hook %s) has policy drop, and no rule in it that doctor can read accepts UDP to port %d", c.Family, c.Table, c.Name, c.Hook, sp.Port),
					fix:     fmt.Sprintf("nft insert rule %s %s %s udp dport %d accept", c.Family, c.Table, c.Name, sp.Port),
				})
			}
		}
	}
	return out, nil
}

// nftFamilySees reports whether a table of family sees packets to group:
// ip sees IPv4, ip6 IPv6, and inet, bridge and netdev both.
func nftFamilySees(family string, group netip.Addr) bool {
	switch family {
	case "ip":
		return group.Is4()
	case "ip6":
		return group.Is6()
	}
	return true
}

// matchesFeed reports whether the rule selects UDP to sp: it has a match on
// the port, the address or the protocol, and all its matches hold (those
// that doctor cannot read hold when unknown is set).
func (rl *nftRule) matchesFeed(sp group.Spec, unknown bool) bool {
	if sp.Port == 0 || !slices.ContainsFunc(rl.matches, nftMatch.relevant) {
		return false
	}
	return !slices.ContainsFunc(rl.matches, func(m nftMatch) bool { return !m.holds(sp, unknown) })
}

// nftMatch is a match expression of nft's JSON: {"op", "left": {"payload":
// {"protocol", "field"}} or {"meta": {"key"}}, "right"}.
type nftMatch struct {
	Op   string `json:"op"`
	Left struct {
		Payload *struct {
			Protocol string `json:"protocol"`
			Field    string `json:"field"`
		} `json:"payload"`
		Meta *struct {
			Key string `json:"key"`
		} `json:"meta"`
	} `json:"left"`
	Right json.RawMessage `json:"right"`
}

// relevant reports whether the match selects by what a feed has: its UDP
// port, its destination address or its protocol.
func (m nftMatch) relevant() bool {
	p := m.Left.Payload
	return p != nil && (p.Field == "dport" || p.Field == "daddr") || m.Left.Meta != nil && m.Left.Meta.Key == "l4proto"
}

// holds reports whether the match holds for UDP to sp; a match that doctor
// cannot read (another field, another operator) holds when unknown is set.
func (m nftMatch) holds(sp group.Spec, unknown bool) bool {
	var neg bool
	switch m.Op {
	case "==", "in":
	case "!=":
		neg = true
	default:
		return unknown
	}
	p := m.Left.Payload
	var has bool
	switch {
	case p != nil && p.Field == "dport" && (p.Protocol == "udp" || p.Protocol == "th"):
		has = nftRightHas(m.Right, func(s string) bool { return s == strconv.Itoa(int(sp.Port)) })
	case p != nil && p.Field == "dport":
		return false // TCP, SCTP...: not the feed's protocol, whatever the operator
	case p != nil && p.Field == "daddr" && (p.Protocol == "ip" || p.Protocol == "ip6"):
		if (p.Protocol == "ip") != sp.Group.Is4() {
			return false
		}
		has = nftRightHas(m.Right, func(s string) bool {
			if pf, err := netip.ParsePrefix(s); err == nil {
				return pf.Contains(sp.Group)
			}
			return s == sp.Group.String()
		})
	case m.Left.Meta != nil && m.Left.Meta.Key == "l4proto":
		has = nftRightHas(m.Right, func(s string) bool { return s == "udp" || s == "17" })
	default:
		return unknown
	}
	return has != neg
}

// nftRightHas reports whether the right side of a match (a value, a set of
// values, a range or a prefix) has a value that ok accepts.
func nftRightHas(raw json.RawMessage, ok func(string) bool) bool {
	var v any
	if json.Unmarshal(raw, &v) != nil {
		return true
	}
	var walk func(v any) bool
	walk = func(v any) bool {
		switch x := v.(type) {
		case float64:
			return ok(strconv.FormatFloat(x, 'f', -1, 64))
		case string:
			return ok(x)
		case []any:
			return slices.ContainsFunc(x, walk)
		case map[string]any:
			if s, found := x["set"]; found {
				return walk(s)
			}
			if rg, found := x["range"].([]any); found && len(rg) == 2 {
				// A range of ports: 0 to 65535 at most.
				lo, okLo := rg[0].(float64)
				hi, okHi := rg[1].(float64)
				if !okLo || !okHi || lo < 0 || hi > 65535 {
					return false
				}
				for p := int(lo); p <= int(hi); p++ {
					if ok(strconv.Itoa(p)) {
						return true
					}
				}
				return false
			}
			if pf, found := x["prefix"].(map[string]any); found {
				addr, _ := pf["addr"].(string)
				n, _ := pf["len"].(float64)
				return ok(addr + "/" + strconv.Itoa(int(n)))
			}
		}
		return false
	}
	return walk(v)
}
