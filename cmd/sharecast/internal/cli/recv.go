package cli

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"time"

	"github.com/rs/zerolog"
	"github.com/spf13/pflag"

	"github.com/sharecast/sharecast/dispatch"
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
	fs.Var(&sizeValue{v: &f.rcvbuf, max: mcast.MaxReadBuffer, why: " (1 GiB - 1: the most a socket takes)"}, "rcvbuf", "receive buffer to ask for, in bytes, such as 4MiB or 64MiB (default 4MiB; the kernel may grant less)")
}

// parseSpecs checks the group specs of the command line, so that a bad one
// is a usage error that names it before anything is opened.
func parseSpecs(args []string) ([]string, error) {
	if len(args) == 0 {
		return nil, usagef("no GROUP given")
	}
	for _, a := range args {
		if _, err := group.ParseSpec(a); err != nil {
			return nil, &usageError{err}
		}
	}
	return args, nil
}

// listenConfig checks the flags and returns the dispatch.ListenConfig they
// describe. An -i value is looked up as a spec's %IFACE is, so that
// "-i '*'" and "GROUP%*" mean the same.
func (f *recvFlags) listenConfig(log zerolog.Logger) (*dispatch.ListenConfig, error) {
	share, err := mcast.ParseShare(f.share)
	if err != nil {
		return nil, usagef("invalid argument %q for \"--share\" flag: want any, user or exclusive", f.share)
	}
	if f.rcvbuf < 0 {
		return nil, usagef("invalid argument %d for \"--rcvbuf\" flag: want a size in bytes", f.rcvbuf)
	}
	for _, name := range f.ifaces {
		if _, err := group.LookupInterfaces(name); err != nil {
			return nil, &usageError{fmt.Errorf("invalid argument %q for \"--iface\" flag: %w", name, err)}
		}
	}
	return &dispatch.ListenConfig{Share: share, ReadBuffer: f.rcvbuf, Interfaces: f.ifaces, Logger: log}, nil
}

// listenError classifies an error of dispatch.Listen: a spec or interface
// that cannot be used is the command line's fault, and a refused bind is
// explained.
func listenError(err error, share mcast.Share) error {
	var le *dispatch.ListenError
	if errors.As(err, &le) {
		return bindError(le.Err, le.Port, share)
	}
	return joinError(err)
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
	case errors.Is(err, mcast.ErrPrivilegedPort):
		return err // it says why, in its own words
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

// coTenantInterval is how often a receiving session looks again for
// sockets of other users on its ports.
const coTenantInterval = 5 * time.Second

// maxCoTenantWarnings caps how many (port, user) pairs a session remembers
// having warned about; past it, further ones are counted, not warned.
const maxCoTenantWarnings = 1024

// coTenants warns once for each user other than this process's that holds
// one of a session's ports: with port sharing, that user's socket receives
// the port's multicast, and its unicast too. It looks at the start and again
// every coTenantInterval, so that one who binds later is seen too. What it
// can see: sockets in this network namespace, from /proc/net/udp and udp6
// (and /proc/PID/fd for the processes, where readable). What it cannot: a
// socket that comes and goes between two looks, or one in another
// namespace (which does not share the port anyway).
type coTenants struct {
	socks      []dispatch.ReceiverSocket
	log        zerolog.Logger
	me         int
	warned     map[coTenantKey]bool
	suppressed uint64
}

type coTenantKey struct {
	port uint16
	uid  int
}

func newCoTenants(socks []dispatch.ReceiverSocket, log zerolog.Logger) *coTenants {
	return &coTenants{socks: socks, log: log, me: os.Geteuid(), warned: map[coTenantKey]bool{}}
}

// check looks once.
func (c *coTenants) check() {
	for _, s := range c.socks {
		port := s.Conn.LocalAddr().Port()
		others, err := otherUserSockets(port, c.me)
		if err != nil {
			c.log.Debug().Err(err).Uint16("port", port).Msg("cannot check the port's other holders")
			continue
		}
		byUID := map[int][]portSocket{}
		for _, o := range others {
			byUID[o.UID] = append(byUID[o.UID], o)
		}
		for uid, ss := range byUID {
			k := coTenantKey{port, uid}
			if c.warned[k] {
				continue
			}
			if len(c.warned) >= maxCoTenantWarnings {
				c.suppressed++
				continue
			}
			c.warned[k] = true
			var pids []int
			for _, s := range ss {
				pids = append(pids, pidsOf(s)...)
			}
			c.log.Warn().Uint16("port", port).Int("uid", uid).Str("user", userName(uid)).Int("sockets", len(ss)).Ints("pids", pids).
				Msgf("port %d is also held by uid %d (%s), another user (%s): a socket of another user on a shared port receives the port's multicast, and its unicast; use --share user or --share exclusive to refuse other users", port, uid, userName(uid), plural(uint64(len(ss)), "socket"))
		}
	}
}

// watch checks every coTenantInterval until stop is closed.
func (c *coTenants) watch(stop <-chan struct{}) {
	t := time.NewTicker(coTenantInterval)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			c.check()
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
