package cli

import (
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/user"
	"slices"
	"strconv"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	"github.com/spf13/cobra"

	"github.com/sharecast/sharecast/internal/procnet"
)

// portSocket is one UDP socket bound to a port, and who holds it.
type portSocket struct {
	Family    string         `json:"family"` // udp4 or udp6
	Local     netip.AddrPort `json:"local"`
	UID       int            `json:"uid"`
	User      string         `json:"user"`
	Inode     uint64         `json:"inode"`
	RxQueue   int            `json:"rx_queue"`
	Drops     uint64         `json:"drops"`
	Procs     []procInfo     `json:"processes"`
	OtherUser bool           `json:"other_user"`
}

// procInfo is a process that has a socket open.
type procInfo struct {
	PID     int    `json:"pid"`
	Program string `json:"program"`
}

// portReport is what `ports` says about one port.
type portReport struct {
	Port    uint16       `json:"port"`
	Sockets []portSocket `json:"sockets"`
	UIDs    []int        `json:"uids"`
	Warning string       `json:"warning,omitempty"`
}

// portsReport is the whole output of `ports`.
type portsReport struct {
	Ports  []portReport `json:"ports"`
	Groups []membership `json:"groups"`
	Notes  []string     `json:"notes,omitempty"`
}

// membership is a group joined on an interface, from /proc/net/igmp or
// igmp6, with its source filter from /proc/net/mcfilter or mcfilter6.
type membership struct {
	IfIndex int          `json:"ifindex"`
	IfName  string       `json:"interface"`
	Group   netip.Addr   `json:"group"`
	Users   int          `json:"users"`
	Include []netip.Addr `json:"include,omitempty"`
	Exclude []netip.Addr `json:"exclude,omitempty"`
}

// addFilters puts the source filters into the memberships they belong to.
func addFilters(ms []membership, fs []procnet.SourceFilter) {
	for _, f := range fs {
		for i := range ms {
			if ms[i].IfIndex == f.IfIndex && ms[i].Group == f.Group {
				if f.Include > 0 {
					ms[i].Include = append(ms[i].Include, f.Source)
				}
				if f.Exclude > 0 {
					ms[i].Exclude = append(ms[i].Exclude, f.Source)
				}
			}
		}
	}
}

// hostTables is what `ports` reads from the kernel; procfs fills it on
// Linux, and tests fill it from fixtures.
type hostTables struct {
	udp4, udp6 []procnet.UDPSocket
	procs      map[uint64][]procInfo // by socket inode
	groups     []membership
	notes      []string
}

func newPortsCmd(e *env) *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:   "ports [PORT...]",
		Short: "Show who holds UDP ports on this host, and the groups joined",
		Long: `ports lists each UDP socket bound to each PORT (every UDP socket without
PORT): its local address, the process that holds it (pid and program), its
user, its receive queue and drops (from /proc/net/udp, /proc/net/udp6 and
/proc/*/fd), and then the multicast groups joined on each interface
(/proc/net/igmp, /proc/net/igmp6, /proc/net/mcfilter, /proc/net/mcfilter6).

A port held by sockets of more than one user is flagged: a socket of
another user that shares the port receives the port's multicast (for the
groups it joins) and unicast datagrams sent to the port. Processes of other
users show only when ports runs as root. It sees the sockets of its own
network namespace (the host's, unless run in another). Linux only.`,
		Example: `  sharecast ports 5000
  sharecast ports 5000 5001 --format json
  sudo sharecast ports          # every UDP port, with every process`,
		RunE: runE(func(cmd *cobra.Command, args []string) error {
			ports := make([]uint16, 0, len(args))
			for _, a := range args {
				p, err := strconv.ParseUint(a, 10, 16)
				if err != nil || p == 0 {
					return usagef("PORT %q: want a number from 1 to 65535", a)
				}
				ports = append(ports, uint16(p))
			}
			if format != "text" && format != "json" {
				return usagef("invalid argument %q for \"--format\" flag: want text or json", format)
			}
			t, err := readHostTables(ports)
			if err != nil {
				return err
			}
			r := buildPortsReport(t, ports, os.Geteuid())
			if format == "json" {
				enc := json.NewEncoder(e.stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(r)
			}
			return writePortsText(e.stdout, r)
		}),
	}
	cmd.Flags().StringVar(&format, "format", "text", "output format: text or json")
	return cmd
}

// buildPortsReport groups the sockets by port (only the ports asked for,
// or all) and flags the sockets of another user on a shared port. On such a
// port, the reference user is me if I hold a socket there, otherwise the
// user of the oldest socket (the lowest inode).
func buildPortsReport(t *hostTables, ports []uint16, me int) portsReport {
	byPort := map[uint16][]portSocket{}
	add := func(family string, es []procnet.UDPSocket) {
		for _, e := range es {
			p := e.Local.Port()
			if p == 0 || (len(ports) > 0 && !slices.Contains(ports, p)) {
				continue
			}
			byPort[p] = append(byPort[p], portSocket{
				Family: family, Local: e.Local, UID: e.UID, User: userName(e.UID), Inode: e.Inode,
				RxQueue: e.RxQueue, Drops: e.Drops, Procs: t.procs[e.Inode],
			})
		}
	}
	add("udp4", t.udp4)
	add("udp6", t.udp6)
	r := portsReport{Groups: t.groups, Notes: t.notes}
	if r.Groups == nil {
		r.Groups = []membership{}
	}
	for _, p := range ports {
		if _, ok := byPort[p]; !ok {
			r.Ports = append(r.Ports, portReport{Port: p, Sockets: []portSocket{}, UIDs: []int{}})
		}
	}
	for p, socks := range byPort {
		slices.SortFunc(socks, func(a, b portSocket) int { return cmp.Compare(a.Inode, b.Inode) })
		pr := portReport{Port: p, Sockets: socks}
		for _, s := range socks {
			if !slices.Contains(pr.UIDs, s.UID) {
				pr.UIDs = append(pr.UIDs, s.UID)
			}
		}
		if len(pr.UIDs) > 1 {
			ref := socks[0].UID
			if slices.ContainsFunc(socks, func(s portSocket) bool { return s.UID == me }) {
				ref = me
			}
			var others []string
			for i := range pr.Sockets {
				if s := &pr.Sockets[i]; s.UID != ref {
					s.OtherUser = true
					if o := fmt.Sprintf("%d (%s)", s.UID, s.User); !slices.Contains(others, o) {
						others = append(others, o)
					}
				}
			}
			pr.Warning = fmt.Sprintf("port %d is shared with another user: uid %s besides uid %d (%s). "+
				"A socket of another user on a shared port can receive the port's multicast (for every group it joins) and its unicast. "+
				"Hold the port with --share user (same user only) or --share exclusive to refuse other users.",
				p, strings.Join(others, ", uid "), ref, userName(ref))
		}
		slices.Sort(pr.UIDs)
		r.Ports = append(r.Ports, pr)
	}
	slices.SortFunc(r.Ports, func(a, b portReport) int { return cmp.Compare(a.Port, b.Port) })
	return r
}

func writePortsText(w io.Writer, r portsReport) error {
	for _, n := range r.Notes {
		fmt.Fprintf(w, "note: %s\n", n)
	}
	if len(r.Ports) == 0 {
		fmt.Fprintln(w, "no UDP socket is bound")
	}
	for _, p := range r.Ports {
		fmt.Fprintf(w, "UDP port %d: %s, %s\n", p.Port, plural(uint64(len(p.Sockets)), "socket"), plural(uint64(len(p.UIDs)), "user"))
		if len(p.Sockets) == 0 {
			fmt.Fprintln(w)
			continue
		}
		tw := newTable(w, 0)
		fmt.Fprintln(tw, "  proto\tlocal\tpid\tprogram\tuid\tuser\trx queue\tdrops\t")
		for _, s := range p.Sockets {
			pids, progs := "-", "-"
			if len(s.Procs) > 0 {
				var ps, gs []string
				for _, pr := range s.Procs {
					ps = append(ps, strconv.Itoa(pr.PID))
					if !slices.Contains(gs, pr.Program) {
						gs = append(gs, pr.Program)
					}
				}
				pids, progs = strings.Join(ps, ","), printable(strings.Join(gs, ","))
			}
			flag := ""
			if s.OtherUser {
				flag = "<- another user"
			}
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%d\t%s\t%d\t%d\t%s\n", s.Family, s.Local, pids, progs, s.UID, printable(s.User), s.RxQueue, s.Drops, flag)
		}
		tw.Flush()
		if p.Warning != "" {
			fmt.Fprintf(w, "  warning: %s\n", p.Warning)
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintln(w, "Groups joined on each interface (the kernel does not say by which socket):")
	if len(r.Groups) == 0 {
		fmt.Fprintln(w, "  none")
		return nil
	}
	tw := newTable(w, 0)
	fmt.Fprintln(tw, "  interface\tgroup\tsockets\tsources\t")
	for _, g := range r.Groups {
		var src []string
		if len(g.Include) > 0 {
			src = append(src, "include "+joinAddrs(g.Include))
		}
		if len(g.Exclude) > 0 {
			src = append(src, "exclude "+joinAddrs(g.Exclude))
		}
		if len(src) == 0 {
			src = []string{"any"}
		}
		fmt.Fprintf(tw, "  %s\t%s\t%d\t%s\t\n", printable(g.IfName), g.Group, g.Users, strings.Join(src, "; "))
	}
	return tw.Flush()
}

func joinAddrs(as []netip.Addr) string {
	s := make([]string, len(as))
	for i, a := range as {
		s[i] = a.String()
	}
	return strings.Join(s, ",")
}

var (
	userNamesMu sync.Mutex
	userNames   = map[int]string{}
)

// userName returns the name of uid, or "?" if it has none.
func userName(uid int) string {
	userNamesMu.Lock()
	defer userNamesMu.Unlock()
	if n, ok := userNames[uid]; ok {
		return n
	}
	n := "?"
	if u, err := user.LookupId(strconv.Itoa(uid)); err == nil {
		n = u.Username
	}
	userNames[uid] = n
	return n
}

// otherUserSockets returns the sockets bound to port whose user is not me.
func otherUserSockets(port uint16, me int) ([]portSocket, error) {
	t, err := readHostTables([]uint16{port})
	if err != nil {
		return nil, err
	}
	var out []portSocket
	for _, p := range buildPortsReport(t, []uint16{port}, me).Ports {
		for _, s := range p.Sockets {
			if s.UID != me {
				out = append(out, s)
			}
		}
	}
	return out, nil
}

// printable returns s with every rune that is not printable (control
// characters, escape sequences, tabs, invalid UTF-8) and every backslash
// written as a Go escape (\x1b, \t, \\), so that a name another user chose
// (a process name, an interface name) cannot move the cursor, retitle the
// terminal or hide what follows it on the line.
func printable(s string) string {
	clean := true
	for _, r := range s {
		if r == utf8.RuneError || r == '\\' || !unicode.IsPrint(r) {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	q := strconv.QuoteToGraphic(s)
	return q[1 : len(q)-1]
}
