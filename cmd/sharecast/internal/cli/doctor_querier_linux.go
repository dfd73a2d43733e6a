package cli

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"

	"github.com/sharecast/sharecast/group"
)

// maxQueriers caps the queriers that --listen remembers; past it, further
// ones are counted.
const maxQueriers = 16

// querierHeard is a querier heard while doctor listened.
type querierHeard struct {
	ifIndex int
	src     netip.Addr
	version string // IGMPv1, IGMPv2, IGMPv3, MLDv1 or MLDv2
}

// querierListener hears, on a raw socket, the IGMP (or MLD) queries that
// arrive while doctor listens.
type querierListener struct {
	v6   bool
	err  error // the raw socket could not be opened
	done chan struct{}

	mu    sync.Mutex
	heard []querierHeard
	more  uint64 // queriers past maxQueriers
}

// listenQueriers opens a raw IGMP socket (ICMPv6, filtered to Multicast
// Listener Queries, when v6) and records the queriers heard until ctx ends.
func listenQueriers(ctx context.Context, v6 bool) *querierListener {
	q := &querierListener{v6: v6, done: make(chan struct{})}
	network, laddr := "ip4:igmp", "0.0.0.0"
	if v6 {
		network, laddr = "ip6:ipv6-icmp", "::"
	}
	c, err := net.ListenPacket(network, laddr)
	if err != nil {
		q.err = err
		close(q.done)
		return q
	}
	// read returns a message and the index of the interface it came in on.
	var read func(b []byte) (int, int, net.Addr, error)
	if v6 {
		p := ipv6.NewPacketConn(c)
		var f ipv6.ICMPFilter
		f.SetAll(true)
		f.Accept(ipv6.ICMPTypeMulticastListenerQuery)
		err = p.SetICMPFilter(&f)
		if err == nil {
			err = p.SetControlMessage(ipv6.FlagInterface, true)
		}
		read = func(b []byte) (int, int, net.Addr, error) {
			n, cm, src, err := p.ReadFrom(b)
			if cm == nil {
				return n, 0, src, err
			}
			return n, cm.IfIndex, src, err
		}
	} else {
		p := ipv4.NewPacketConn(c)
		err = p.SetControlMessage(ipv4.FlagInterface, true)
		read = func(b []byte) (int, int, net.Addr, error) {
			n, cm, src, err := p.ReadFrom(b)
			if cm == nil {
				return n, 0, src, err
			}
			return n, cm.IfIndex, src, err
		}
	}
	if err != nil {
		c.Close()
		q.err = err
		close(q.done)
		return q
	}
	stop := context.AfterFunc(ctx, func() { c.SetReadDeadline(time.Now()) })
	go func() {
		defer close(q.done)
		defer c.Close()
		defer stop()
		b := make([]byte, 1500)
		for {
			n, ifIndex, src, err := read(b)
			if err != nil {
				return // the deadline when ctx ends, or the socket failed
			}
			v := queryVersion(b[:n], v6)
			a, ok := src.(*net.IPAddr)
			if v == "" || !ok {
				continue
			}
			ip, _ := netip.AddrFromSlice(a.IP)
			q.add(querierHeard{ifIndex: ifIndex, src: ip.Unmap(), version: v})
		}
	}()
	return q
}

// add records a querier heard, once.
func (q *querierListener) add(h querierHeard) {
	q.mu.Lock()
	defer q.mu.Unlock()
	switch {
	case slices.Contains(q.heard, h):
	case len(q.heard) < maxQueriers:
		q.heard = append(q.heard, h)
	default:
		q.more++
	}
}

// queryVersion returns the version of an IGMP (ICMPv6, when v6) message
// that is a membership query, by its length (RFC 3376 7.1, RFC 3810 8.1);
// "" for any other message.
func queryVersion(b []byte, v6 bool) string {
	switch {
	case v6 && len(b) >= 28 && b[0] == 130:
		return "MLDv2"
	case v6 && len(b) >= 24 && b[0] == 130:
		return "MLDv1"
	case v6:
		return ""
	case len(b) >= 12 && b[0] == 0x11:
		return "IGMPv3"
	case len(b) >= 8 && b[0] == 0x11 && b[1] == 0:
		return "IGMPv1"
	case len(b) >= 8 && b[0] == 0x11:
		return "IGMPv2"
	}
	return ""
}

// report adds, for each interface that the groups of the family are
// received on (loopback aside), the queriers heard there, or a warning that
// none was.
func (q *querierListener) report(r *DoctorReport, specs []group.Spec, took time.Duration) {
	<-q.done
	proto := "IGMP"
	if q.v6 {
		proto = "MLD"
	}
	if q.err != nil {
		r.add("querier", statusWarning, "host", "could not listen for "+proto+" queries: "+oneLine(q.err), "run doctor as root (a raw socket needs CAP_NET_RAW)")
		return
	}
	var ifis []*net.Interface
	for _, sp := range specs {
		if sp.Group.Is6() != q.v6 {
			continue
		}
		var found []*net.Interface
		if sp.Interface != "" {
			found, _ = group.LookupInterfaces(sp.Interface)
		} else if rt, err := routeIface(sp.Group); err == nil {
			if ifi, err := net.InterfaceByIndex(rt.LinkIndex); err == nil {
				found = []*net.Interface{ifi}
			}
		}
		for _, ifi := range found {
			if ifi.Flags&net.FlagLoopback != 0 {
				continue // no segment, no querier: the host alone
			}
			if !slices.ContainsFunc(ifis, func(o *net.Interface) bool { return o.Index == ifi.Index }) {
				ifis = append(ifis, ifi)
			}
		}
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, ifi := range ifis {
		var heard []string
		for _, h := range q.heard {
			if h.ifIndex == ifi.Index {
				heard = append(heard, h.version+" from "+h.src.String())
			}
		}
		if len(heard) > 0 {
			r.add("querier", statusOK, ifi.Name, fmt.Sprintf("queries heard on %s while listening: %s", ifi.Name, strings.Join(heard, ", ")), "")
			continue
		}
		seen := fmt.Sprintf("no %s query heard on %s in %v of listening", proto, ifi.Name, took.Round(time.Millisecond))
		if q.more > 0 {
			seen += fmt.Sprintf(" (%d more queriers heard elsewhere, past the %d remembered)", q.more, maxQueriers)
		}
		r.add("querier", statusWarning, ifi.Name,
			seen+": a querier asks every 125 s by default, so a shorter listen can miss it; without one on the segment, a snooping switch prunes the group after the membership timeout (about 260 s)",
			"listen longer than the query interval (--listen 130s); if none is heard, make a router or switch on the segment the querier (a Linux bridge: ip link set dev BRIDGE type bridge mcast_querier 1)")
	}
}
