package tools

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"

	"github.com/sharecast/sharecast/dispatch"
	"github.com/sharecast/sharecast/group"
	"github.com/sharecast/sharecast/mcast"
)

// ForwardSummary is the forwarder's part of the summary.
type ForwardSummary struct {
	To        string `json:"to"`
	Forwarded uint64 `json:"forwarded"`
	// Errors counts datagrams that could not be relayed (the first error
	// is logged); the forwarder goes on.
	Errors uint64 `json:"errors"`
}

type forwarder struct {
	unixPath string
	to       string
	ttl      int

	uc     *net.UnixConn
	s      *mcast.Sender
	dest   string
	send   func([]byte) error
	bytes  uint64
	n      uint64
	errors uint64
	err    error
	log    func(error)
}

func (f *forwarder) flags(fs *flag.FlagSet) {
	fs.StringVar(&f.unixPath, "unix", "", "forward: the unix datagram socket to relay to")
	fs.StringVar(&f.to, "to", "", "forward: the group to relay to (a group spec; lo unless it names an interface)")
	fs.IntVar(&f.ttl, "ttl", 1, "forward: multicast TTL for -to")
}

func (f *forwarder) open(c *common) error {
	f.log = func(err error) { c.log.Error().Err(err).Msg("relay failed (logged once)") }
	switch {
	case (f.unixPath == "") == (f.to == ""):
		return errors.New("forward: give one of -unix PATH and -to GROUP")
	case f.unixPath != "":
		uc, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: f.unixPath, Net: "unixgram"})
		if err != nil {
			return fmt.Errorf("forward: %w", err)
		}
		f.uc, f.dest = uc, "unix:"+f.unixPath
		f.send = func(b []byte) error { _, err := uc.Write(b); return err }
	default:
		spec, err := group.ParseSpec(f.to)
		if err != nil {
			return fmt.Errorf("forward: -to: %w", err)
		}
		if spec.IsSourceSpecific() {
			return errors.New("forward: -to takes a group without a source")
		}
		if spec.AddrPort() == c.spec.AddrPort() {
			return fmt.Errorf("forward: -to %s is the group being received: a loop", spec.AddrPort())
		}
		ifi, err := spec.SendInterface()
		if err != nil {
			return fmt.Errorf("forward: %w", err)
		}
		s, err := mcast.NewSender(spec.AddrPort(), &mcast.SenderConfig{Interface: ifi, TTL: f.ttl})
		if err != nil {
			return fmt.Errorf("forward: %w", err)
		}
		f.s, f.dest, f.send = s, spec.AddrPort().String(), s.Send
	}
	return nil
}

func (f *forwarder) ready() string { return " -> " + f.dest }

func (f *forwarder) handle(d *dispatch.Datagram) {
	if err := f.send(d.Payload); err != nil {
		if f.errors == 0 {
			f.err = err
			f.log(err)
		}
		f.errors++
		return
	}
	f.n++
	f.bytes += uint64(len(d.Payload))
}

func (f *forwarder) tick(io.Writer, *common) {}

func (f *forwarder) finish(s *Summary) {
	s.Bytes = f.bytes
	s.Forward = &ForwardSummary{To: f.dest, Forwarded: f.n, Errors: f.errors}
}

func (f *forwarder) text(w io.Writer, s *Summary) {
	fmt.Fprintf(w, "  %d forwarded to %s", s.Forward.Forwarded, s.Forward.To)
	if s.Forward.Errors > 0 {
		fmt.Fprintf(w, "; %d failed: %v", s.Forward.Errors, f.err)
	}
	fmt.Fprintln(w)
}

func (f *forwarder) close() error {
	var err error
	if f.uc != nil {
		err = f.uc.Close()
		f.uc = nil
	}
	if f.s != nil {
		err = errors.Join(err, f.s.Close())
		f.s = nil
	}
	return err
}
