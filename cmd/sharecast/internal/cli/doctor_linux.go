package cli

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"

	"github.com/sharecast/sharecast/group"
	"github.com/sharecast/sharecast/internal/procnet"
)

// runDoctor runs the checks of opt.
func runDoctor(cmd *cobra.Command, e *env, opt doctorOptions) (*DoctorReport, error) {
	r := &DoctorReport{Groups: []string{}, Checks: []DoctorCheck{}}
	specs := opt.specs
	if len(specs) == 0 {
		t, err := readHostTables(nil)
		if err != nil {
			return nil, err
		}
		for _, m := range t.groups {
			if m.Group.IsLinkLocalMulticast() || m.Group.IsInterfaceLocalMulticast() {
				continue // the kernel's own (all-hosts, all-nodes, solicited-node)
			}
			specs = append(specs, group.Spec{Group: m.Group, Interface: m.IfName})
		}
	}
	for _, sp := range specs {
		if sp.Interface == "" {
			sp.Interface = opt.iface
		}
		r.Groups = append(r.Groups, subject(sp))
		ifi := checkInterface(r, sp)
		checkRoute(r, sp, ifi)
		checkRPFilter(r, sp, ifi)
		checkIGMPVersion(r, sp, ifi)
		checkQuerier(r, sp, ifi)
	}
	checkLimits(r, specs, opt.rcvbuf)
	checkFirewall(r, specs)
	var ports []uint16
	for _, sp := range specs {
		if sp.Port != 0 && !slices.Contains(ports, sp.Port) {
			ports = append(ports, sp.Port)
		}
	}
	if err := checkPorts(r, ports); err != nil {
		return nil, err
	}
	if opt.listen > 0 {
		if err := checkLive(cmd, e, r, opt); err != nil {
			return nil, err
		}
	}
	if len(specs) == 0 {
		r.add("groups", statusWarning, "host", "no GROUP asked and no socket on this host has joined a group",
			"name the group: sharecast doctor GROUP:PORT")
	}
	return r, nil
}

// subject names a spec in a check: without its port when it has none.
func subject(sp group.Spec) string {
	if sp.Port == 0 {
		s := sp.Group.String()
		if sp.Interface != "" {
			s += "%" + sp.Interface
		}
		return s
	}
	return sp.String()
}

// routeIface returns the interface that the kernel's routing table picks
// for dst, and the route.
func routeIface(dst netip.Addr) (*netlink.Route, error) {
	rs, err := netlink.RouteGet(net.IP(dst.AsSlice()))
	if err != nil {
		return nil, err
	}
	if len(rs) == 0 {
		return nil, errors.New("no route")
	}
	return &rs[0], nil
}

// checkInterface checks the interface that sp names (or the kernel's choice
// for the group) and returns it, also when it cannot be used (down, no
// MULTICAST flag), for the checks that follow; nil where there is none.
func checkInterface(r *DoctorReport, sp group.Spec) *net.Interface {
	subj := subject(sp)
	text := sp.Interface
	picked := ""
	if text == "" {
		rt, err := routeIface(sp.Group)
		if err != nil {
			return nil // checkRoute says so
		}
		text = strconv.Itoa(rt.LinkIndex)
		picked = " (the kernel's choice, by its route for the group)"
	}
	ifs, err := group.LookupInterfaces(text)
	if err != nil {
		name := text
		if i, ierr := strconv.Atoi(text); ierr == nil {
			if ifi, ierr := net.InterfaceByIndex(i); ierr == nil {
				name = ifi.Name
			}
		}
		var found *net.Interface
		if ifi, ierr := net.InterfaceByName(name); ierr == nil {
			found = ifi
		}
		fix := "ip -br link (name an interface that exists)"
		switch {
		case errors.Is(err, group.ErrNotMulticastCapable):
			fix = "ip link set dev " + name + " multicast on"
		case errors.Is(err, group.ErrInterfaceDown):
			fix = "ip link set dev " + name + " up"
		}
		flags := ""
		if found != nil {
			flags = " (flags " + found.Flags.String() + ")"
		}
		r.add("interface", statusProblem, subj, name+picked+": "+oneLine(err)+flags, fix)
		return found // the other checks still apply to it
	}
	ifi := ifs[0]
	for _, ifi := range ifs {
		seen := fmt.Sprintf("%s%s is up with the MULTICAST flag (flags %s)", ifi.Name, picked, ifi.Flags)
		if a, ok := ifaceAddr(ifi, sp.Group.Is4()); ok {
			r.add("interface", statusOK, subj, seen+", address "+a.String(), "")
		} else {
			r.add("interface", statusWarning, subj, seen+" but no "+family(sp.Group)+" address: its membership reports go out from the unspecified address, which some switches ignore",
				"ip addr add ADDRESS/PREFIX dev "+ifi.Name)
		}
	}
	if sp.Interface == "" {
		var cands []string
		all, _ := net.Interfaces()
		for _, c := range all {
			if c.Flags&net.FlagUp != 0 && c.Flags&net.FlagMulticast != 0 && c.Flags&net.FlagLoopback == 0 {
				if _, ok := ifaceAddr(&c, sp.Group.Is4()); ok {
					cands = append(cands, c.Name)
				}
			}
		}
		if len(cands) > 1 {
			r.add("interface", statusWarning, subj,
				fmt.Sprintf("%d interfaces could carry the group (%s) and the kernel picks %s by its routing table", len(cands), strings.Join(cands, ", "), ifi.Name),
				"name the interface: -i IFACE or GROUP%IFACE")
		}
	}
	return ifi
}

// family returns "IPv4" or "IPv6" for a.
func family(a netip.Addr) string {
	if a.Is4() {
		return "IPv4"
	}
	return "IPv6"
}

// ifaceAddr returns an address of ifi of the family.
func ifaceAddr(ifi *net.Interface, v4 bool) (netip.Addr, bool) {
	as, err := ifi.Addrs()
	if err != nil {
		return netip.Addr{}, false
	}
	for _, a := range as {
		if n, ok := a.(*net.IPNet); ok {
			if ip, ok := netip.AddrFromSlice(n.IP); ok && ip.Unmap().Is4() == v4 {
				return ip.Unmap(), true
			}
		}
	}
	return netip.Addr{}, false
}

// routeFix is the command that routes the group's range through dev.
func routeFix(g netip.Addr, dev string) string {
	if g.Is4() {
		return "ip route add 224.0.0.0/4 dev " + dev
	}
	return "ip -6 route add table local multicast ff00::/8 dev " + dev
}

// checkRoute checks that a route covers the group, and where a send goes.
func checkRoute(r *DoctorReport, sp group.Spec, ifi *net.Interface) {
	subj := subject(sp)
	rt, err := routeIface(sp.Group)
	if err != nil {
		dev := "IFACE"
		if ifi != nil {
			dev = ifi.Name
		}
		st := statusWarning
		if sp.Interface == "" {
			st = statusProblem
		}
		fix := routeFix(sp.Group, dev)
		if sp.Interface == "" {
			fix += ", or name the interface: -i IFACE or GROUP%IFACE"
		}
		r.add("route", st, subj, "no route covers the group ("+oneLine(err)+"): a join without an interface fails, and so does a send", fix)
		return
	}
	out := strconv.Itoa(rt.LinkIndex)
	if o, err := net.InterfaceByIndex(rt.LinkIndex); err == nil {
		out = o.Name
	}
	if ifi != nil && rt.LinkIndex != ifi.Index {
		r.add("route", statusWarning, subj, "the route for the group goes out of "+out+", not "+ifi.Name+": a send without an interface goes out of "+out,
			routeFix(sp.Group, ifi.Name)+" (or send with GROUP%"+ifi.Name+")")
		return
	}
	r.add("route", statusOK, subj, "a route covers the group; a send goes out of "+out, "")
}

// checkRPFilter checks reverse-path filtering for a source-specific group:
// in strict mode, the kernel drops a datagram whose source it would not
// route back out of the interface it came in on.
func checkRPFilter(r *DoctorReport, sp group.Spec, ifi *net.Interface) {
	if !sp.Group.Is4() || ifi == nil {
		return // IPv6 has no rp_filter
	}
	all, _ := sysctlValue("net.ipv4.conf.all.rp_filter")
	dev, _ := sysctlValue(sysctlIf("net.ipv4.conf.%s.rp_filter", ifi.Name))
	eff := max(all, dev)
	subj := subject(sp)
	seen := fmt.Sprintf("rp_filter = %d (all %d, %s %d)", eff, all, ifi.Name, dev)
	if eff != 1 || !sp.Source.IsValid() {
		mode := map[int]string{0: "off", 1: "strict", 2: "loose"}[eff]
		if !sp.Source.IsValid() && eff == 1 {
			mode += "; no source named to check the reverse route of"
		}
		r.add("rp_filter", statusOK, subj, seen+", "+mode, "")
		return
	}
	rt, err := routeIface(sp.Source)
	if err == nil && rt.LinkIndex == ifi.Index {
		r.add("rp_filter", statusOK, subj, seen+", strict, and the route back to "+sp.Source.String()+" is through "+ifi.Name, "")
		return
	}
	back := "there is no route back to it"
	if err == nil {
		back = "the route back is through interface " + strconv.Itoa(rt.LinkIndex)
		if o, oerr := net.InterfaceByIndex(rt.LinkIndex); oerr == nil {
			back = "the route back is through " + o.Name
		}
	}
	if n, ok := netstatCounter("TcpExt", "IPReversePathFilter"); ok {
		back += fmt.Sprintf("; IPReversePathFilter = %d dropped so far", n)
	}
	r.add("rp_filter", statusProblem, subj,
		fmt.Sprintf("%s, strict: the kernel drops datagrams from %s arriving on %s, since %s", seen, sp.Source, ifi.Name, back),
		fmt.Sprintf("sysctl -w net.ipv4.conf.all.rp_filter=2 net.ipv4.conf.%s.rp_filter=2 (loose), or ip route add %s dev %s", ifi.Name, sp.Source, ifi.Name))
}

// checkIGMPVersion checks the IGMP (MLD) version that the interface is
// forced to: IGMPv1 and v2 (MLDv1) reports cannot name a source, so a
// source-specific join is not signalled to routers and snooping switches.
func checkIGMPVersion(r *DoctorReport, sp group.Spec, ifi *net.Interface) {
	if ifi == nil {
		return
	}
	proto, key, full := "IGMP", "net.ipv4.conf.%s.force_igmp_version", 3
	if sp.Group.Is6() {
		proto, key, full = "MLD", "net.ipv6.conf.%s.force_mld_version", 2
	}
	all, _ := sysctlValue(fmt.Sprintf(key, "all"))
	dev, _ := sysctlValue(sysctlIf(key, ifi.Name))
	// As the kernel reads them: IPv4 uses v1 where either says 1, else v2
	// where either says 2 (IGMP_V1_SEEN, IGMP_V2_SEEN); IPv6 takes all's
	// value where set, else the interface's (mld_force_mld_version).
	forced := dev
	switch {
	case sp.Group.Is4() && (all == 1 || dev == 1):
		forced = 1
	case sp.Group.Is4() && (all == 2 || dev == 2):
		forced = 2
	case sp.Group.Is4():
		forced = 0
	case all != 0:
		forced = all
	}
	subj := subject(sp)
	seen := fmt.Sprintf("%s version forced to v%d (%s all %d, %s %d)", proto, forced, strings.ReplaceAll(key, ".%s.", ".{all,IFACE}."), all, ifi.Name, dev)
	if forced == 0 {
		seen = fmt.Sprintf("%s version not forced (%s all %d, %s %d): %sv%d, or older where a querier speaks older",
			proto, strings.ReplaceAll(key, ".%s.", ".{all,IFACE}."), all, ifi.Name, dev, proto, full)
	}
	// IPv4's version in force, as the kernel reports it: forced, or the
	// oldest querier heard lately (IGMP_V1_SEEN, IGMP_V2_SEEN). igmp6
	// does not say.
	inForce := forced
	if sp.Group.Is4() {
		if ms, err := procnet.ReadIGMP(procnet.IPv4); err == nil {
			for _, m := range ms {
				if m.IfIndex == ifi.Index {
					inForce = m.Version
					seen += fmt.Sprintf("; in force on %s: IGMPv%d (/proc/net/igmp)", ifi.Name, m.Version)
					break
				}
			}
		}
	}
	if inForce != 0 && inForce < full && sp.Source.IsValid() {
		why := "forced"
		fix := fmt.Sprintf("sysctl -w "+key+"=0 "+key+"=0", "all", ifi.Name)
		if forced == 0 || forced > inForce {
			why = "in force since a querier of that version was heard"
			fix = fmt.Sprintf("make the segment's querier speak %sv%d (its router or switch), or wait for the older-querier timeout", proto, full)
		}
		r.add("igmp", statusProblem, subj,
			seen+fmt.Sprintf(": %sv%d reports cannot name the source (%s), so routers and snooping switches are not asked for this source-specific group", proto, inForce, why),
			fix)
		return
	}
	r.add("igmp", statusOK, subj, seen, "")
}

// checkQuerier checks, where the interface is a bridge or a port of one
// with multicast snooping on, that the bridge has an IGMP/MLD querier.
func checkQuerier(r *DoctorReport, sp group.Spec, ifi *net.Interface) {
	if ifi == nil {
		return
	}
	br, err := bridgeOf(ifi.Index)
	if err != nil || br == nil {
		return // neither a bridge nor a port of one, or netlink cannot say
	}
	subj := subject(sp)
	seen := fmt.Sprintf("bridge %s: multicast_snooping = %d, multicast_querier = %d", br.name, br.snooping, br.querier)
	other := br.otherV4
	if sp.Group.Is6() {
		other = br.otherV6
	}
	if other.IsValid() {
		seen += ", another querier heard: " + other.String()
	}
	if br.snooping == 1 && br.querier == 0 && !other.IsValid() {
		r.add("querier", statusProblem, subj,
			seen+": with snooping, no querier of its own and none heard on the segment, the bridge prunes the group after the membership timeout (about 260 s) and the feed stops",
			fmt.Sprintf("ip link set dev %s type bridge mcast_querier 1 (or mcast_snooping 0, or a querier elsewhere on the segment)", br.name))
		return
	}
	r.add("querier", statusOK, subj, seen, "")
}

// bridgeState is the multicast state of a bridge.
type bridgeState struct {
	name              string
	snooping, querier int
	// otherV4 and otherV6 are the queriers that the bridge hears on its
	// segment, each while its other-querier-present timer runs
	// (IFLA_BR_MCAST_QUERIER_STATE, Linux 5.15 on); invalid when none.
	otherV4, otherV6 netip.Addr
}

// The attributes nested in IFLA_BR_MCAST_QUERIER_STATE (linux/if_bridge.h:
// BRIDGE_QUERIER_*), which x/sys does not define.
const (
	bridgeQuerierIPAddress      = 1
	bridgeQuerierIPOtherTimer   = 3
	bridgeQuerierIPv6Address    = 5
	bridgeQuerierIPv6OtherTimer = 7
)

// parseQuerierState reads IFLA_BR_MCAST_QUERIER_STATE into br: the
// address of the querier of each family that another host is, where its
// other-querier-present timer runs (the bridge's own querier has none).
func parseQuerierState(b []byte, br *bridgeState) error {
	attrs, err := nl.ParseRouteAttr(b)
	if err != nil {
		return err
	}
	var v4, v6 netip.Addr
	var t4, t6 bool
	for _, a := range attrs {
		switch a.Attr.Type & nl.NLA_TYPE_MASK {
		case bridgeQuerierIPAddress:
			v4, _ = netip.AddrFromSlice(a.Value)
		case bridgeQuerierIPv6Address:
			v6, _ = netip.AddrFromSlice(a.Value)
		case bridgeQuerierIPOtherTimer:
			t4 = len(a.Value) == 8 && binary.NativeEndian.Uint64(a.Value) > 0
		case bridgeQuerierIPv6OtherTimer:
			t6 = len(a.Value) == 8 && binary.NativeEndian.Uint64(a.Value) > 0
		}
	}
	if t4 && v4.IsValid() && !v4.IsUnspecified() {
		br.otherV4 = v4
	}
	if t6 && v6.IsValid() && !v6.IsUnspecified() {
		br.otherV6 = v6
	}
	return nil
}

// bridgeOf returns the multicast state of the bridge that the interface
// of index is, or is a port of; nil when it is neither. It asks netlink
// (sysfs shows the namespace that mounted it, not necessarily ours).
func bridgeOf(index int) (*bridgeState, error) {
	l, err := netlink.LinkByIndex(index)
	if err != nil {
		return nil, err
	}
	if l.Type() != "bridge" {
		if l.Attrs().MasterIndex == 0 {
			return nil, nil
		}
		if l, err = netlink.LinkByIndex(l.Attrs().MasterIndex); err != nil || l.Type() != "bridge" {
			return nil, err
		}
	}
	req := nl.NewNetlinkRequest(unix.RTM_GETLINK, unix.NLM_F_ACK)
	msg := nl.NewIfInfomsg(unix.AF_UNSPEC)
	msg.Index = int32(l.Attrs().Index)
	req.AddData(msg)
	msgs, err := req.Execute(unix.NETLINK_ROUTE, unix.RTM_NEWLINK)
	if err != nil || len(msgs) == 0 || len(msgs[0]) < unix.SizeofIfInfomsg {
		return nil, err
	}
	br := &bridgeState{name: l.Attrs().Name}
	attrs, err := nl.ParseRouteAttr(msgs[0][unix.SizeofIfInfomsg:])
	if err != nil {
		return nil, err
	}
	for _, a := range attrs {
		if a.Attr.Type != unix.IFLA_LINKINFO {
			continue
		}
		infos, err := nl.ParseRouteAttr(a.Value)
		if err != nil {
			return nil, err
		}
		for _, info := range infos {
			if info.Attr.Type != nl.IFLA_INFO_DATA {
				continue
			}
			data, err := nl.ParseRouteAttr(info.Value)
			if err != nil {
				return nil, err
			}
			for _, d := range data {
				if len(d.Value) == 0 {
					continue
				}
				switch d.Attr.Type {
				case nl.IFLA_BR_MCAST_SNOOPING:
					br.snooping = int(d.Value[0])
				case nl.IFLA_BR_MCAST_QUERIER:
					br.querier = int(d.Value[0])
				}
				if d.Attr.Type&nl.NLA_TYPE_MASK == unix.IFLA_BR_MCAST_QUERIER_STATE {
					if err := parseQuerierState(d.Value, br); err != nil {
						return nil, err
					}
				}
			}
		}
	}
	return br, nil
}

// defaultMLDMaxMSF is the kernel's net.ipv6.mld_max_msf (IPV6_MLD_MAX_MSF).
const defaultMLDMaxMSF = 64

// checkLimits checks the groups and sources that one socket would join, as
// listen joins them, against the kernel's limits, and the receive buffer
// asked against net.core.rmem_max.
func checkLimits(r *DoctorReport, specs []group.Spec, rcvbuf int) {
	var groups []netip.Addr
	sources := map[netip.Addr]int{} // sources of each group, of either family
	for _, sp := range specs {
		if sp.Source.IsValid() {
			sources[sp.Group]++
		}
		if sp.Group.Is4() && !slices.Contains(groups, sp.Group) {
			groups = append(groups, sp.Group)
		}
	}
	if len(groups) > 0 {
		if limit, ok := sysctlValue("net.ipv4.igmp_max_memberships"); ok {
			seen := fmt.Sprintf("%s on one socket, net.ipv4.igmp_max_memberships = %d", plural(uint64(len(groups)), "IPv4 group"), limit)
			if len(groups) > limit {
				r.add("memberships", statusProblem, "host", seen+": the joins past the limit fail (ENOBUFS)",
					fmt.Sprintf("sysctl -w net.ipv4.igmp_max_memberships=%d", len(groups)))
			} else {
				r.add("memberships", statusOK, "host", seen, "")
			}
		}
	}
	// The sources of one group on one socket: igmp_max_msf for IPv4,
	// mld_max_msf for IPv6 (the joins past it fail with ENOBUFS).
	for _, v4 := range []bool{true, false} {
		most := 0
		var worst netip.Addr
		for g, n := range sources {
			if g.Is4() == v4 && (n > most || (n == most && g.Less(worst))) {
				most, worst = n, g
			}
		}
		if most == 0 {
			continue
		}
		key := "net.ipv4.igmp_max_msf"
		if !v4 {
			key = "net.ipv6.mld_max_msf"
		}
		limit, ok := sysctlValue(key)
		if !ok && !v4 {
			// mld_max_msf is the initial namespace's alone: another
			// namespace does not show it, and is held to it.
			seen := fmt.Sprintf("at most %s of one group (%s); %s is not in this network namespace: the initial namespace's applies, %d unless changed there",
				plural(uint64(most), "source"), worst, key, defaultMLDMaxMSF)
			if most > defaultMLDMaxMSF {
				r.add("sources", statusWarning, "host", seen+": the source joins past it fail (ENOBUFS)",
					fmt.Sprintf("sysctl -w %s=%d in the initial network namespace (the host's)", key, most))
			} else {
				r.add("sources", statusOK, "host", seen, "")
			}
			continue
		}
		if !ok {
			continue
		}
		seen := fmt.Sprintf("at most %s of one group (%s), %s = %d", plural(uint64(most), "source"), worst, key, limit)
		if most > limit {
			r.add("sources", statusProblem, "host", seen+": the source joins past the limit fail (ENOBUFS)", fmt.Sprintf("sysctl -w %s=%d", key, most))
		} else {
			r.add("sources", statusOK, "host", seen, "")
		}
	}
	if limit, ok := sysctlValue("net.core.rmem_max"); ok {
		seen := fmt.Sprintf("receive buffer asked %d bytes, net.core.rmem_max = %d", rcvbuf, limit)
		if rcvbuf > limit {
			r.add("rcvbuf", statusProblem, "host",
				seen+": a receiver without CAP_NET_ADMIN gets at most rmem_max, and drops when a burst overflows it",
				fmt.Sprintf("sysctl -w net.core.rmem_max=%d", rcvbuf))
		} else {
			r.add("rcvbuf", statusOK, "host", seen, "")
		}
	}
}

// checkPorts reports the sockets on each port, as `ports` sees them: more
// than one user, and a socket that holds unread data while it drops.
func checkPorts(r *DoctorReport, ports []uint16) error {
	if len(ports) == 0 {
		return nil
	}
	t, err := readHostTables(ports)
	if err != nil {
		return err
	}
	for _, p := range buildPortsReport(t, ports, os.Geteuid()).Ports {
		subj := "port " + strconv.Itoa(int(p.Port))
		bad := false
		if p.Warning != "" {
			bad = true
			r.add("port", statusProblem, subj, fmt.Sprintf("%s of %s (%s): %s", plural(uint64(len(p.Sockets)), "socket"), plural(uint64(len(p.UIDs)), "user"), socketsBrief(p.Sockets), p.Warning),
				fmt.Sprintf("stop the other user's process (sharecast ports %d names it), and receive with --share user", p.Port))
		}
		for _, s := range p.Sockets {
			if s.RxQueue > 0 && s.Drops > 0 {
				bad = true
				who, fix := staleSocket(s)
				r.add("port", statusProblem, subj,
					fmt.Sprintf("%s holds %d unread bytes in its receive queue and has dropped %d datagrams: a listener that does not read", who, s.RxQueue, s.Drops),
					fix)
			}
		}
		if !bad {
			var drops uint64
			for _, s := range p.Sockets {
				drops += s.Drops
			}
			seen := fmt.Sprintf("%s of %s, %d drops: %s", plural(uint64(len(p.Sockets)), "socket"), plural(uint64(len(p.UIDs)), "user"), drops, socketsBrief(p.Sockets))
			if len(p.Sockets) == 0 {
				seen = "no socket is bound: nothing receives the feed on this host yet"
			}
			r.add("port", statusOK, subj, seen, "")
		}
	}
	return nil
}

// maxBriefSockets caps the sockets that a port line lists; past it, the
// rest are counted ('sharecast ports' lists them all).
const maxBriefSockets = 8

// socketsBrief lists the sockets of a port on one line: each one's address,
// process, user, receive queue and drops.
func socketsBrief(socks []portSocket) string {
	var out []string
	for i, s := range socks {
		if i == maxBriefSockets {
			out = append(out, fmt.Sprintf("and %d more (sharecast ports %d lists them)", len(socks)-i, s.Local.Port()))
			break
		}
		who := fmt.Sprintf("inode %d", s.Inode)
		if len(s.Procs) > 0 {
			who = fmt.Sprintf("pid %d %s", s.Procs[0].PID, s.Procs[0].Program)
		}
		out = append(out, fmt.Sprintf("%s %s (%s, uid %d, queue %d, drops %d)", s.Family, s.Local, who, s.UID, s.RxQueue, s.Drops))
	}
	return strings.Join(out, "; ")
}

// staleSocket names a socket that does not read, and says how to stop it.
func staleSocket(s portSocket) (who, fix string) {
	who = fmt.Sprintf("socket %s (inode %d, uid %d)", s.Local, s.Inode, s.UID)
	fix = fmt.Sprintf("stop the process that holds it (sharecast ports %d names it, when run as root)", s.Local.Port())
	if len(s.Procs) > 0 {
		who += fmt.Sprintf(" of pid %d (%s)", s.Procs[0].PID, s.Procs[0].Program)
		fix = fmt.Sprintf("kill %d, or make %s read its socket", s.Procs[0].PID, s.Procs[0].Program)
	}
	return who, fix
}

// sysctlValue reads an integer sysctl of the calling thread's network
// namespace (procnet.ReadSysctl).
func sysctlValue(name string) (int, bool) {
	v, err := procnet.ReadSysctl(name)
	return int(v), err == nil
}

// sysctlIf returns the sysctl name of the interface's setting key
// ("net.ipv4.conf.%s.rp_filter"): a dot in its name is a slash there.
func sysctlIf(key, ifname string) string {
	return fmt.Sprintf(key, strings.ReplaceAll(ifname, ".", "/"))
}

// netstatCounter reads one counter of /proc/net/netstat ("TcpExt",
// "IPReversePathFilter") of the calling thread's namespace.
func netstatCounter(group, name string) (uint64, bool) {
	cs, err := procnet.ReadNetstat()
	if err != nil {
		return 0, false
	}
	v, ok := procnet.Lookup(cs, group, name)
	return uint64(v), ok
}

// checkFirewall reads the nftables ruleset (nft -j list ruleset), and the
// iptables rules where iptables-save is installed, and reports the rules
// that drop or reject UDP to a port or a group asked.
func checkFirewall(r *DoctorReport, specs []group.Spec) {
	checkIptables(r, specs)
	checkNftables(r, specs)
}

// checkIptables reports the rules of iptables-save (and ip6tables-save, for
// IPv6 groups) that drop or reject UDP to a feed; nothing where neither is
// installed.
func checkIptables(r *DoctorReport, specs []group.Spec) {
	for _, v6 := range []bool{false, true} {
		cmd := "iptables-save"
		if v6 {
			cmd = "ip6tables-save"
		}
		if !slices.ContainsFunc(specs, func(sp group.Spec) bool { return sp.Group.Is6() == v6 && sp.Port != 0 }) {
			continue
		}
		if _, err := exec.LookPath(cmd); err != nil {
			continue
		}
		out, err := exec.Command(cmd).Output()
		if err != nil {
			r.add("firewall", statusWarning, "host", cmd+": "+oneLine(err)+" (run as root to read the rules)", "run doctor as root")
			continue
		}
		drops := iptablesDrops(out, specs, v6)
		for _, d := range drops {
			r.add("firewall", d.status, d.subject, d.seen, d.fix)
		}
		if len(drops) == 0 {
			r.add("firewall", statusOK, "host", "no rule of "+cmd+" drops or rejects UDP to the ports or groups asked", "")
		}
	}
}

// checkNftables reads the nftables ruleset (nft -j list ruleset) and
// reports the rules that drop or reject UDP to a port or a group asked.
func checkNftables(r *DoctorReport, specs []group.Spec) {
	if _, err := exec.LookPath("nft"); err != nil {
		r.add("firewall", statusWarning, "host", "nft is not installed: the nftables ruleset was not read", "install nftables (apt-get install nftables), or check the firewall by hand")
		return
	}
	out, err := exec.Command("nft", "-j", "list", "ruleset").Output()
	if err != nil {
		r.add("firewall", statusWarning, "host", "nft -j list ruleset: "+oneLine(err)+" (run as root to read the ruleset)", "run doctor as root")
		return
	}
	rules, err := firewallDrops(out, specs)
	if err != nil {
		r.add("firewall", statusWarning, "host", "nft -j list ruleset: "+oneLine(err), "check the firewall by hand: nft list ruleset")
		return
	}
	for _, d := range rules {
		r.add("firewall", d.status, d.subject, d.seen, d.fix)
	}
	if len(rules) == 0 {
		r.add("firewall", statusOK, "host", "no nftables rule drops or rejects UDP to the ports or groups asked", "")
	}
}

// add appends a check.
func (r *DoctorReport) add(check, status, subject, seen, fix string) {
	r.Checks = append(r.Checks, DoctorCheck{Check: check, Status: status, Subject: subject, Seen: seen, Fix: fix})
	switch status {
	case statusProblem:
		r.Problems++
	case statusWarning:
		r.Warnings++
	}
}
