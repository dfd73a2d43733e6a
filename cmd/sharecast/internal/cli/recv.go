package cli

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/rs/zerolog"
	"github.com/spf13/pflag"

	"github.com/sharecast/sharecast/group"
	"github.com/sharecast/sharecast/mcast"
)

// recvFlags are the flags of the subcommands that receive (listen, stat).
type recvFlags struct {
	ifaces []string
	share  string
	rcvbuf int
}

func (f *recvFlags) add(fs *pflag.FlagSet) {
	fs.StringSliceVarP(&f.ifaces, "iface", "i", nil, "join on this interface (name, index or address; repeatable); a spec's own %IFACE wins; default: the kernel's choice by its routing table")
	fs.StringVar(&f.share, "share", "any", "share the port with: any (any user), user (same user only, Linux), exclusive (nobody)")
	fs.IntVar(&f.rcvbuf, "rcvbuf", 0, "receive buffer to ask for, in bytes (default 4 MiB; the kernel may grant less)")
}

// socket is one receiving socket: one family and port, and the groups
// joined on it.
type socket struct {
	name  string // "udp4:5000"
	conn  *mcast.Conn
	set   *group.Set
	specs []group.Spec
	asked int // receive buffer asked for
}

// parseSpecs parses group specs from the command line; a bad one is a
// usage error that names it.
func parseSpecs(args []string) ([]group.Spec, error) {
	if len(args) == 0 {
		return nil, usagef("no GROUP given")
	}
	specs := make([]group.Spec, 0, len(args))
	for _, a := range args {
		s, err := group.ParseSpec(a)
		if err != nil {
			return nil, &usageError{err}
		}
		specs = append(specs, s)
	}
	return specs, nil
}

// openSockets opens one socket per family and port of specs, shared as
// f.share says, and joins each spec on it (on each of f.ifaces where the
// spec names no interface). On error it closes what it opened.
func openSockets(ctx context.Context, specs []group.Spec, f *recvFlags, log zerolog.Logger) (_ []*socket, err error) {
	share, err := mcast.ParseShare(f.share)
	if err != nil {
		return nil, usagef("invalid argument %q for \"--share\" flag: want any, user or exclusive", f.share)
	}
	if f.rcvbuf < 0 {
		return nil, usagef("invalid argument %d for \"--rcvbuf\" flag: want a size in bytes", f.rcvbuf)
	}
	for _, name := range f.ifaces {
		if err := checkInterface(name); err != nil {
			return nil, err
		}
	}
	var socks []*socket
	defer func() {
		if err != nil {
			closeSockets(socks)
		}
	}()
	byKey := map[string]*socket{}
	for _, sp := range specs {
		network := "udp4"
		if sp.Group.Is6() {
			network = "udp6"
		}
		key := network + ":" + strconv.Itoa(int(sp.Port))
		s := byKey[key]
		if s == nil {
			asked := f.rcvbuf
			if asked == 0 {
				asked = mcast.DefaultReadBuffer
			}
			c, err := mcast.Listen(ctx, network, ":"+strconv.Itoa(int(sp.Port)), &mcast.Config{Share: share, ReadBuffer: f.rcvbuf, Logger: log})
			if err != nil {
				return nil, bindError(err, sp.Port, share)
			}
			set, err := group.New(c, &group.Config{Logger: log})
			if err != nil {
				c.Close()
				return nil, err
			}
			s = &socket{name: key, conn: c, set: set, asked: asked}
			byKey[key] = s
			socks = append(socks, s)
		}
		joins := []group.Spec{sp}
		if sp.Interface == "" && len(f.ifaces) > 0 {
			joins = joins[:0]
			for _, name := range f.ifaces {
				j := sp
				j.Interface = name
				joins = append(joins, j)
			}
		}
		for _, j := range joins {
			if err := s.set.Join(j); err != nil {
				return nil, joinError(err)
			}
			s.specs = append(s.specs, j)
		}
	}
	return socks, nil
}

// checkInterface checks that an -i value names an interface that exists.
func checkInterface(name string) error {
	if _, err := lookupInterface(name); err != nil {
		return &usageError{fmt.Errorf("interface %q for \"--iface\" flag: %w", name, err)}
	}
	return nil
}

// lookupInterface finds an interface by name, index or address, as group
// specs name them.
func lookupInterface(name string) (*net.Interface, error) {
	if name == "" {
		return nil, errors.New("empty interface name")
	}
	ifs, err := net.Interfaces()
	if err != nil {
		return nil, err
	}
	for i := range ifs {
		if ifs[i].Name == name || strconv.Itoa(ifs[i].Index) == name {
			return &ifs[i], nil
		}
		addrs, _ := ifs[i].Addrs() // an interface whose addresses cannot be read is matched by name only
		for _, a := range addrs {
			if ipn, ok := a.(*net.IPNet); ok && ipn.IP.String() == name {
				return &ifs[i], nil
			}
		}
	}
	names := make([]string, len(ifs))
	for i, ifi := range ifs {
		names[i] = ifi.Name
	}
	return nil, fmt.Errorf("no such interface (have %s)", strings.Join(names, ", "))
}

// joinError classifies a failed join: a spec or interface that cannot be
// used is the command line's fault.
func joinError(err error) error {
	switch {
	case errors.Is(err, group.ErrBadSpec), errors.Is(err, group.ErrNoInterface),
		errors.Is(err, group.ErrInterfaceDown), errors.Is(err, group.ErrNotMulticastCapable):
		return &usageError{err}
	}
	return err
}

// bindError explains a refused bind.
func bindError(err error, port uint16, share mcast.Share) error {
	switch {
	case errors.Is(err, mcast.ErrPortInUse) || errors.Is(err, mcast.ErrAccessDenied):
		why := "another socket holds it without sharing it (exclusive), or shares it only with its own user"
		if share != mcast.ShareAnyUser {
			why += ", or holds it in a mode that --share " + share.String() + " cannot share with"
		}
		return fmt.Errorf("port %d: %s; see 'sharecast ports %d': %w", port, why, port, err)
	case errors.Is(err, mcast.ErrNotSupported):
		return &usageError{err}
	}
	return err
}

func closeSockets(socks []*socket) {
	for _, s := range socks {
		s.set.Close()
		s.conn.Close()
	}
}

// warnCoTenants logs a warning for each socket of another user that holds
// the port of s: with port sharing, it receives the port's multicast and
// its unicast too.
func warnCoTenants(socks []*socket, log zerolog.Logger) {
	me := os.Geteuid()
	for _, s := range socks {
		port := s.conn.LocalAddr().Port()
		others, err := otherUserSockets(port, me)
		if err != nil {
			log.Debug().Err(err).Uint16("port", port).Msg("cannot check the port's other holders")
			continue
		}
		byUID := map[int][]portSocket{}
		for _, o := range others {
			byUID[o.UID] = append(byUID[o.UID], o)
		}
		for uid, ss := range byUID {
			var pids []int
			for _, s := range ss {
				pids = append(pids, pidsOf(s)...)
			}
			log.Warn().Uint16("port", port).Int("uid", uid).Str("user", userName(uid)).Int("sockets", len(ss)).Ints("pids", pids).
				Msgf("port %d is also held by uid %d (%s), another user (%d sockets): a socket of another user on a shared port receives the port's multicast, and its unicast; use --share user or --share exclusive to refuse other users", port, uid, userName(uid), len(ss))
		}
	}
}

func pidsOf(s portSocket) []int {
	var pids []int
	for _, p := range s.Procs {
		pids = append(pids, p.PID)
	}
	slices.Sort(pids)
	return pids
}
