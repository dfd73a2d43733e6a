package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/netip"
	"runtime"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"

	"github.com/sharecast/sharecast/group"
	"github.com/sharecast/sharecast/internal/wire"
	"github.com/sharecast/sharecast/mcast"
)

// sendBatch is how many datagrams one WriteBatch (sendmmsg) call sends at
// most.
const sendBatch = 64

type sendFlags struct {
	rate     float64
	size     int
	count    uint64
	duration time.Duration
	ttl      int
	loop     bool
	iface    string
	source   string
	stdin    bool
	stream   uint64
	pcap     string
	tos      int
	dscp     int
}

func newSendCmd(e *env) *cobra.Command {
	var f sendFlags
	cmd := &cobra.Command{
		Use:   "send GROUP",
		Short: "Send test traffic to a group",
		Long: `send sends test datagrams to a group: --rate a second, each --size bytes,
until --count datagrams are sent, --duration has passed, or Ctrl-C.

Where it sends: without -i (or a %IFACE in GROUP), send uses the loopback
interface, so nothing leaves this host; name an interface with -i to send
on a network. The TTL (IPv6 hop limit) is 1 unless --ttl says otherwise, so
routers do not forward the datagrams, and --loop (on by default) delivers
them to receivers on this host too.

Each datagram starts with the 32-byte sharecast header, big-endian:
  magic "SCST" (4 bytes), version 1 (2), header length 32 (2),
  stream id (8, random per run), sequence number (8, from 0),
  send time (8, nanoseconds since the Unix epoch)
and is filled after it with bytes that depend on the sequence number (byte
i after the header is sequence+i mod 256), so that listen and stat measure
loss, gaps, duplicates, reordering and latency, and check every byte.

The rate is kept by an absolute timetable (datagram i goes at start +
i/rate), sending in bursts of up to 64 with one sendmmsg call when behind;
the summary says the rate achieved. --rate 0 sends as fast as the socket
takes them.

With --stdin, each line of standard input (without its newline) is sent as
one datagram, without a header, paced only if --rate is given.`,
		Example: `  sharecast send 239.1.2.3:5000                          # 100 a second on lo, until Ctrl-C
  sharecast send 239.1.2.3:5000 --rate 1000 --duration 3s
  sharecast send 239.1.2.3:5000 --rate 200000 --size 200 --count 1000000
  sharecast send 239.1.2.3:5000 -i eth0 --ttl 8 --source-addr 10.0.0.5   # on a network
  sharecast send [ff15::1]:5000 --count 10
  printf 'hello\nworld\n' | sharecast send 239.1.2.3:5000 --stdin`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return usagef("want exactly one GROUP, got %d arguments", len(args))
			}
			return nil
		},
		RunE: runE(func(cmd *cobra.Command, args []string) error {
			spec, err := group.ParseSpec(args[0])
			if err != nil {
				return &usageError{err}
			}
			if f.stdin && f.pcap != "" {
				return usagef("--stdin and --pcap do not go together: one source of payloads")
			}
			for _, name := range []string{"size", "stream"} {
				if f.stdin && cmd.Flags().Changed(name) {
					return usagef("--stdin and --%s do not go together: with --stdin each line is a datagram as it is, without a header", name)
				}
				if f.pcap != "" && cmd.Flags().Changed(name) {
					return usagef("--pcap and --%s do not go together: --pcap sends the captured payloads as they are", name)
				}
			}
			if cmd.Flags().Changed("tos") && cmd.Flags().Changed("dscp") {
				return usagef("--tos and --dscp do not go together: --dscp N is --tos N<<2")
			}
			if f.tos < -1 || f.tos > 255 {
				return usagef("invalid argument %d for \"--tos\" flag: want 0 to 255", f.tos)
			}
			if f.dscp < -1 || f.dscp > 63 {
				return usagef("invalid argument %d for \"--dscp\" flag: want 0 to 63", f.dscp)
			}
			if f.dscp >= 0 {
				f.tos = f.dscp << 2
			}
			return runSend(cmd.Context(), e, spec, &f, cmd.Flags().Changed("rate"))
		}),
	}
	fs := cmd.Flags()
	f.rate, f.size = 100, 64
	fs.VarP(&rateValue{v: &f.rate, max: 10_000_000}, "rate", "r", "datagrams a second, such as 1000, 10k or 1M (0: as fast as possible)")
	fs.VarP(&sizeValue{v: &f.size, max: 65527}, "size", "s", "datagram size in bytes, header included (at least 32), such as 1500 or 8KiB")
	fs.VarP(&countValue{v: &f.count}, "count", "c", "datagrams to send, such as 1000 or 1M (0: no limit)")
	fs.DurationVarP(&f.duration, "duration", "t", 0, "stop after this long, such as 3s (0: no limit)")
	fs.IntVar(&f.ttl, "ttl", 1, "multicast TTL (IPv6 hop limit)")
	fs.BoolVar(&f.loop, "loop", true, "deliver to receivers on this host too (IP_MULTICAST_LOOP); --loop=false to turn off (on a loopback interface the kernel delivers them all the same)")
	fs.StringVarP(&f.iface, "iface", "i", "", "interface to send on, by name, index or address (default: loopback, so nothing leaves the host)")
	fs.StringVar(&f.source, "source-addr", "", "source address to send from (default: the interface's, chosen by the kernel)")
	fs.BoolVar(&f.stdin, "stdin", false, "send each line of standard input as one datagram, without a header")
	fs.Uint64Var(&f.stream, "stream", 0, "stream id to put in the header (default: random)")
	fs.StringVar(&f.pcap, "pcap", "", "replay the UDP payloads of a capture file (pcap: tcpdump -w, tshark -F pcap, listen -w) to GROUP, at their recorded pace or at --rate")
	fs.IntVar(&f.tos, "tos", -1, "IPv4 type of service byte, IPv6 traffic class, 0 to 255 (default: the kernel's, 0)")
	fs.IntVar(&f.dscp, "dscp", -1, "DSCP code point, 0 to 63, such as 46 for EF: sets the TOS byte to DSCP<<2")
	return cmd
}

// sender is a socket that sends to one group out of one interface.
type sender struct {
	uc  *net.UDPConn
	p4  *ipv4.PacketConn
	p6  *ipv6.PacketConn
	dst *net.UDPAddr
	ifi *net.Interface
}

func runSend(ctx context.Context, e *env, spec group.Spec, f *sendFlags, rateSet bool) error {
	if f.rate < 0 || f.rate > 10_000_000 {
		return usagef("invalid argument %g for \"--rate\" flag: want 0 to 10000000 datagrams a second", f.rate)
	}
	maxSize := 65507
	if spec.Group.Is6() {
		maxSize = 65527
	}
	if !f.stdin && (f.size < wire.HeaderLen || f.size > maxSize) {
		return usagef("invalid argument %d for \"--size\" flag: want %d to %d bytes", f.size, wire.HeaderLen, maxSize)
	}
	if f.ttl < 0 || f.ttl > 255 {
		return usagef("invalid argument %d for \"--ttl\" flag: want 0 to 255", f.ttl)
	}
	if f.duration < 0 {
		return usagef("invalid argument %s for \"--duration\" flag: want a positive duration", f.duration)
	}
	name := f.iface
	if name == "" {
		name = spec.Interface
	}
	ifi, err := sendInterface(name)
	if err != nil {
		return err
	}
	// A source-specific spec's source is the address to send from (its
	// receivers accept nothing else); --source-addr may say it again.
	src := spec.Source
	if f.source != "" {
		a, err := netip.ParseAddr(f.source)
		if err != nil || a.Is6() != spec.Group.Is6() {
			return usagef("invalid argument %q for \"--source-addr\" flag: want an address of the group's family", f.source)
		}
		if src.IsValid() && a.Unmap() != src {
			return usagef("invalid argument %q for \"--source-addr\" flag: the group spec %s says source %s", f.source, spec, src)
		}
		src = a.Unmap()
	}
	s, err := newSender(spec.AddrPort(), ifi, src, f.ttl, f.loop, f.tos)
	if errors.Is(err, syscall.EADDRNOTAVAIL) {
		return &usageError{fmt.Errorf("source %s is not an address of this host (or not of %s): %w", src, ifi.Name, err)}
	}
	if err != nil {
		return err
	}
	defer s.uc.Close()

	paced := f.rate > 0 && (!f.stdin && f.pcap == "" || rateSet)
	if f.duration > 0 && (!paced || f.stdin || f.pcap != "") {
		// A paced stream ends by its count, which --duration sets below;
		// the rest end by the clock.
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, f.duration)
		defer cancel()
	}
	stream := f.stream
	if stream == 0 {
		stream = rand.Uint64()
	}
	if !f.loop && ifi.Flags&net.FlagLoopback != 0 {
		e.log.Warn().Str("iface", ifi.Name).Msg("--loop=false does not keep datagrams sent on a loopback interface from this host's receivers: the kernel delivers them all the same")
	}
	e.log.Info().Str("group", spec.AddrPort().String()).Str("iface", ifi.Name).Str("local", s.uc.LocalAddr().String()).
		Int("ttl", f.ttl).Bool("loop", f.loop).Float64("rate", f.rate).Msg("sending")

	var (
		sent        uint64
		bytes       uint64
		first, last time.Time
		retries     uint64
	)
	var skipped uint64
	switch {
	case f.pcap != "":
		rate := -1.0 // the recorded pace
		if rateSet {
			rate = f.rate
		}
		sent, bytes, skipped, first, last, retries, err = s.sendPcap(ctx, f.pcap, rate, f.count)
	case f.stdin:
		rate := 0.0
		if rateSet {
			rate = f.rate
		}
		sent, bytes, first, last, retries, err = s.sendLines(ctx, e.stdin, rate, f.count)
	default:
		total := f.count
		if f.duration > 0 && f.rate > 0 {
			n := schedule{rate: f.rate}.within(f.duration)
			if total == 0 || n < total {
				total = n
			}
		}
		sent, first, last, retries, err = s.sendStream(ctx, f.rate, total, f.size, stream)
		bytes = sent * uint64(f.size)
	}
	el := last.Sub(first)
	achieved := 0.0
	if sent > 1 && el > 0 {
		achieved = float64(sent-1) / el.Seconds()
	}
	asked := "as fast as possible"
	switch {
	case f.pcap != "" && !rateSet:
		asked = "at the recorded pace"
	case paced:
		asked = fmt.Sprintf("asked %g", f.rate)
	}
	if skipped > 0 {
		asked += fmt.Sprintf("; %s of the capture skipped: not UDP over IP", plural(skipped, "record"))
	}
	fmt.Fprintf(e.stderr, "sharecast send: sent %s, %s to %s on %s in %s: %.1f datagrams/s achieved (%s); stream %016x; %s retried\n",
		plural(sent, "datagram"), plural(bytes, "byte"), spec.AddrPort(), ifi.Name, el.Round(time.Microsecond), achieved, asked, stream, plural(retries, "send"))
	if err != nil && !(errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled)) {
		return err
	}
	return nil
}

// sendInterface returns the interface that name selects to send out of
// (the loopback interface for ""), or a usage error.
func sendInterface(name string) (*net.Interface, error) {
	var ifi *net.Interface
	var err error
	if name == "" {
		ifi, err = mcast.LoopbackInterface()
	} else {
		var ifs []*net.Interface
		if ifs, err = group.LookupInterfaces(name); err == nil {
			ifi = ifs[0]
			if len(ifs) > 1 {
				err = fmt.Errorf("it selects %d interfaces (%s, ...); name the one to send out of", len(ifs), ifi.Name)
			}
		}
	}
	if err != nil {
		return nil, &usageError{fmt.Errorf("interface %q: %w", name, err)}
	}
	return ifi, nil
}

func newSender(group netip.AddrPort, ifi *net.Interface, src netip.Addr, ttl int, loop bool, tos int) (*sender, error) {
	ms, err := mcast.NewSender(group, &mcast.SenderConfig{Interface: ifi, Source: src, TTL: ttl, NoLoopback: !loop})
	if err != nil {
		return nil, err
	}
	uc := ms.UDPConn()
	s := &sender{uc: uc, dst: net.UDPAddrFromAddrPort(group), ifi: ms.Interface()}
	if group.Addr().Is6() {
		s.p6 = ipv6.NewPacketConn(uc)
		if ttl == 0 { // mcast.NewSender takes 0 for its default, 1
			err = s.p6.SetMulticastHopLimit(0)
		}
	} else {
		s.p4 = ipv4.NewPacketConn(uc)
		if ttl == 0 {
			err = s.p4.SetMulticastTTL(0)
		}
	}
	if err != nil {
		uc.Close()
		return nil, fmt.Errorf("TTL 0 on %s: %w", s.ifi.Name, err)
	}
	if tos >= 0 {
		if s.p6 != nil {
			err = s.p6.SetTrafficClass(tos)
		} else {
			err = s.p4.SetTOS(tos)
		}
		if err != nil {
			uc.Close()
			return nil, fmt.Errorf("TOS %d on %s: %w", tos, s.ifi.Name, err)
		}
	}
	return s, nil
}

// writeBatch sends ms with sendmmsg where the OS has it (Linux), with
// sendmsg a datagram elsewhere, and on Windows, where x/net's WriteBatch is
// not implemented, with one WriteTo a datagram.
func (s *sender) writeBatch(ms []ipv4.Message) (int, error) {
	if runtime.GOOS == "windows" {
		for i := range ms {
			if _, err := s.uc.WriteTo(ms[i].Buffers[0], ms[i].Addr); err != nil {
				return i, err
			}
		}
		return len(ms), nil
	}
	if s.p6 != nil {
		return s.p6.WriteBatch(ms, 0)
	}
	return s.p4.WriteBatch(ms, 0)
}

// transient reports a send error worth retrying: the kernel's queue is
// momentarily full.
func transient(err error) bool {
	return errors.Is(err, syscall.ENOBUFS) || errors.Is(err, syscall.EAGAIN)
}

// sendStream sends total test datagrams (0: until ctx ends) of size bytes.
func (s *sender) sendStream(ctx context.Context, rate float64, total uint64, size int, stream uint64) (sent uint64, first, last time.Time, retries uint64, err error) {
	ms := make([]ipv4.Message, sendBatch)
	buf := make([]byte, sendBatch*size)
	for i := range ms {
		ms[i].Buffers = [][]byte{buf[i*size : (i+1)*size]}
		ms[i].Addr = s.dst
	}
	send := func(seq uint64, n int) (int, error) {
		now := time.Now().UnixNano()
		for i := range ms[:n] {
			b := ms[i].Buffers[0]
			wire.Header{Stream: stream, Seq: seq + uint64(i), SendTime: now}.Put(b)
			wire.Fill(b[wire.HeaderLen:], seq+uint64(i))
		}
		done := 0
		for done < n {
			k, err := s.writeBatch(ms[done:n])
			done += max(k, 0)
			if err != nil {
				if !transient(err) || ctx.Err() != nil {
					return done, fmt.Errorf("send to %s on %s: %w", s.dst, s.ifi.Name, err)
				}
				retries++
				time.Sleep(100 * time.Microsecond) // the queue drains in microseconds
			}
		}
		return done, nil
	}
	sent, first, last, err = pace(ctx, realClock{}, rate, total, sendBatch, send)
	return sent, first, last, retries, err
}

// sendLines sends each line of r as a datagram.
func (s *sender) sendLines(ctx context.Context, r io.Reader, rate float64, count uint64) (sent, bytes uint64, first, last time.Time, retries uint64, err error) {
	maxLine := 65507
	if s.p6 != nil {
		maxLine = 65527
	}
	lines := make(chan []byte)
	readErr := make(chan error, 1)
	go func() {
		sc := bufio.NewScanner(r)
		sc.Buffer(make([]byte, 64<<10), maxLine+1)
		defer close(lines)
		n := 0
		for sc.Scan() {
			n++
			if len(sc.Bytes()) > maxLine {
				readErr <- fmt.Errorf("line %d of standard input has %d bytes: the most a datagram holds is %d", n, len(sc.Bytes()), maxLine)
				return
			}
			select {
			case lines <- append([]byte(nil), sc.Bytes()...):
			case <-ctx.Done():
				readErr <- nil
				return
			}
		}
		if errors.Is(sc.Err(), bufio.ErrTooLong) {
			readErr <- fmt.Errorf("line %d of standard input is longer than %d bytes, the most a datagram holds", n+1, maxLine)
			return
		}
		readErr <- sc.Err()
	}()
	ms := make([]ipv4.Message, 1)
	ms[0].Addr = s.dst
	send := func(_ uint64, _ int) (int, error) {
		var line []byte
		var ok bool
		select {
		case line, ok = <-lines:
		case <-ctx.Done():
			return 0, ctx.Err()
		}
		if !ok {
			return 0, io.EOF
		}
		ms[0].Buffers = [][]byte{line}
		for {
			_, err := s.writeBatch(ms)
			if err == nil {
				bytes += uint64(len(line))
				return 1, nil
			}
			if !transient(err) || ctx.Err() != nil {
				return 0, fmt.Errorf("send to %s on %s: %w", s.dst, s.ifi.Name, err)
			}
			retries++
			time.Sleep(100 * time.Microsecond)
		}
	}
	sent, first, last, err = pace(ctx, realClock{}, rate, count, 1, send)
	if errors.Is(err, io.EOF) {
		err = <-readErr
	}
	return sent, bytes, first, last, retries, err
}
