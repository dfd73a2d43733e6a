package cli

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/spf13/cobra"

	"github.com/sharecast/sharecast/dispatch"
	"github.com/sharecast/sharecast/internal/moldudp64"
	"github.com/sharecast/sharecast/internal/outfile"
	"github.com/sharecast/sharecast/internal/pcap"
	"github.com/sharecast/sharecast/internal/wire"
)

func newListenCmd(e *env) *cobra.Command {
	var f sessionFlags
	var format, encoding, pcapFile string
	var maxBytes int
	cmd := &cobra.Command{
		Use:   "listen GROUP...",
		Short: "Join groups and print each datagram",
		Long: `listen joins the groups and prints each datagram that arrives: a line of text
by default, a hex dump, one JSON object a line, or the raw bytes.

It shares the port (--share any, the default) so that any number of
listeners, and other programs, receive every datagram on the same group and
port; it warns at start-up when a socket of another user holds the port too,
since that socket receives the port's datagrams as well.

It exits after --count datagrams, after --duration, or on Ctrl-C or SIGTERM,
and then writes a summary to standard error: datagrams and bytes received,
kernel drops, truncated and filtered datagrams, the receive buffer granted.

JSON lines hold time (RFC 3339, the kernel's receive time), socket, source,
group, port, interface, ttl (the TTL or hop limit it arrived with), length, what the payload is where listen knows
(sharecast: stream, seq, latency_ns; moldudp64: session, seq, count), and
payload_base64 (or payload_hex with --payload hex).`,
		Example: `  sharecast listen 239.1.2.3:5000
  sharecast listen 239.1.2.3:5000 [ff15::1]:5000 -i eth0 -i eth1
  sharecast listen 232.1.1.1:5000@10.0.0.1%eth0 --count 10 --format hex
  sharecast listen 239.1.2.3:5000 --format json --payload hex | jq .length
  sharecast listen 239.1.2.3:5000 --format raw > capture.bin
  sharecast listen 239.1.2.3:5000 -w feed.pcap -c 10k      # then: tshark -r feed.pcap
  sharecast listen 239.1.2.3:5000 --share exclusive --metrics :9100`,
		Args: cobra.ArbitraryArgs,
		RunE: runE(func(cmd *cobra.Command, args []string) error {
			specs, err := f.nats.specs(args)
			if err != nil {
				return err
			}
			switch format {
			case "text", "hex", "json", "raw":
			default:
				return usagef("invalid argument %q for \"--format\" flag: want text, hex, json or raw", format)
			}
			if encoding != "base64" && encoding != "hex" {
				return usagef("invalid argument %q for \"--payload\" flag: want base64 or hex", encoding)
			}
			if cmd.Flags().Changed("payload") && format != "json" {
				return usagef("--payload goes with --format json only (the payload's encoding in JSON lines), not with --format %s", format)
			}
			out, outName := e.stdout, "standard output"
			var pw *pcap.Writer
			if pcapFile != "" {
				if cmd.Flags().Changed("format") || cmd.Flags().Changed("payload") {
					return usagef("-w and --format or --payload do not go together: -w writes a capture file, not lines")
				}
				if pcapFile != "-" {
					file, err := outfile.Create(pcapFile, 0)
					if err != nil {
						return &usageError{fmt.Errorf("-w: %w", err)}
					}
					defer file.Close() // closed again below, where its error counts
					out, outName = file, pcapFile
				}
				var err error
				if pw, err = pcap.NewWriter(out); err != nil {
					return fmt.Errorf("-w %s: %w", outName, err)
				}
			}
			p := newPrinter(out, format, encoding, f.count, pw)
			p.maxBytes = uint64(maxBytes)
			ctx := cmd.Context()
			s, err := startSession(ctx, e, specs, &f, []handlerSpec{{"print", p}}, nil)
			if err != nil {
				return err
			}
			stopFlush := p.flushEvery(100 * time.Millisecond)
			st, err := s.wait(ctx, p.done, f.duration)
			stopFlush()
			if c, ok := out.(io.Closer); ok && pcapFile != "" && pcapFile != "-" {
				p.closeWith(c)
			}
			s.writeSummary(e.stderr, "sharecast listen", st)
			werr := p.writeSummary(e.stderr, outName)
			if err == nil {
				err = werr
			}
			return err
		}),
	}
	f.add(cmd.Flags())
	cmd.Flags().StringVar(&format, "format", "text", "output: text (a line a datagram), hex (a line and a hex dump), json (an object a line) or raw (the payloads' bytes)")
	cmd.Flags().StringVar(&encoding, "payload", "base64", "payload encoding in JSON lines: base64 or hex")
	cmd.Flags().StringVarP(&pcapFile, "write", "w", "", "write the datagrams to a capture file (pcap, as tcpdump -w; - for standard output) instead of printing them; a new file is mode 0600, and a symbolic link there is refused, not followed")
	cmd.Flags().Var(&sizeValue{v: &maxBytes, max: math.MaxInt64}, "max-bytes", "stop once the datagrams written (their payloads) reach this many bytes, such as 100MiB (0: no limit)")
	return cmd
}

// printer is the handler of listen: it writes each datagram to its output,
// as a line, a hex dump, JSON, raw bytes or a pcap record. It counts what
// it could not write: a write error (a full disk, a closed pipe) stops the
// command, and every datagram received after it is counted as not written.
type printer struct {
	format, encoding string
	limit            uint64

	mu      sync.Mutex // guards the fields up to n
	w       *bufio.Writer
	pw      *pcap.Writer
	buf     []byte
	ifnames map[int]string
	// pending counts the datagrams in the buffer since the last good
	// flush; written those flushed; unwritten those lost to err.
	pending, written, unwritten uint64
	err                         error

	// maxBytes, if set, stops the printer once the payloads taken reach
	// it; payloadBytes counts them.
	maxBytes, payloadBytes uint64

	n        atomic.Uint64 // datagrams taken, up to limit
	past     atomic.Uint64 // datagrams that came after the limit
	done     chan struct{}
	doneOnce sync.Once
}

func newPrinter(w io.Writer, format, encoding string, limit uint64, pw *pcap.Writer) *printer {
	return &printer{format: format, encoding: encoding, limit: limit, w: bufio.NewWriterSize(w, 64<<10), pw: pw,
		ifnames: map[int]string{}, done: make(chan struct{})}
}

// ServeDatagram writes d, unless the limit has been reached.
func (p *printer) ServeDatagram(_ context.Context, d *dispatch.Datagram) {
	if p.limit > 0 && p.n.Load() >= p.limit {
		p.past.Add(1)
		return
	}
	p.mu.Lock()
	if p.maxBytes > 0 && p.payloadBytes >= p.maxBytes {
		p.mu.Unlock()
		p.past.Add(1)
		return
	}
	if p.err != nil {
		p.unwritten++
		p.mu.Unlock()
		return
	}
	var err error
	switch {
	case p.pw != nil:
		dst := netip.AddrPortFrom(d.Group, d.Port)
		err = p.pw.WriteUDP(d.Time, d.Source, dst, d.Payload)
	case p.format == "raw":
		_, err = p.w.Write(d.Payload)
	case p.format == "json":
		p.buf = p.appendJSON(p.buf[:0], d)
		_, err = p.w.Write(p.buf)
	case p.format == "hex":
		p.buf = p.appendText(p.buf[:0], d)
		p.w.Write(p.buf)
		dumper := hex.Dumper(p.w)
		dumper.Write(d.Payload)
		dumper.Close()
		_, err = p.w.Write(nil) // a bufio.Writer's error sticks: this returns the first
	default:
		p.buf = p.appendText(p.buf[:0], d)
		_, err = p.w.Write(p.buf)
	}
	p.pending++
	if err != nil {
		p.fail(err)
	}
	p.payloadBytes += uint64(len(d.Payload))
	if p.maxBytes > 0 && p.payloadBytes >= p.maxBytes {
		p.doneOnce.Do(func() { close(p.done) })
	}
	p.mu.Unlock()
	if n := p.n.Add(1); p.limit > 0 && n >= p.limit {
		p.doneOnce.Do(func() { close(p.done) })
	}
}

// fail records the first write error: what was buffered since the last good
// flush is lost with it, and the command stops. p.mu is held.
func (p *printer) fail(err error) {
	if p.err == nil {
		p.err = err
		p.unwritten += p.pending
		p.pending = 0
		p.doneOnce.Do(func() { close(p.done) })
	}
}

// flush pushes out what is buffered.
func (p *printer) flush() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.err != nil {
		return
	}
	var err error
	if p.pw != nil {
		err = p.pw.Flush()
	}
	if err == nil {
		err = p.w.Flush()
	}
	if err != nil {
		p.fail(err)
		return
	}
	p.written += p.pending
	p.pending = 0
}

// closeWith closes the output file after the last flush; its error is a
// write error too (data that the OS could not write back).
func (p *printer) closeWith(c io.Closer) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := c.Close(); err != nil && p.err == nil {
		p.err = err
		p.unwritten, p.written = p.unwritten+p.written, 0
	}
}

// flushEvery flushes the output every period, so that a reader of a pipe
// sees datagrams as they come; the returned function stops it and
// flushes a last time.
func (p *printer) flushEvery(period time.Duration) func() {
	stop := every(period, p.flush)
	return func() {
		stop()
		p.flush()
	}
}

// writeSummary says what became of the datagrams that the handler took, so
// that its counts add up to the handler's received: written, not written
// (and why), and those past --count. A closed pipe (the reader went away,
// as with "| head") ends the command cleanly, as it does other filters; any
// other write error is returned.
func (p *printer) writeSummary(w io.Writer, outName string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	line := fmt.Sprintf("  output %s: written %d", outName, p.written)
	if p.err != nil {
		line += fmt.Sprintf(", not written %d (%v)", p.unwritten, p.err)
	}
	if past := p.past.Load(); past > 0 {
		line += fmt.Sprintf(", %d more after the limit (--count or --max-bytes), not written", past)
	}
	fmt.Fprintln(w, line)
	switch {
	case p.err == nil:
		return nil
	case errors.Is(p.err, syscall.EPIPE):
		fmt.Fprintf(w, "sharecast listen: %s was closed by its reader; stopped\n", outName)
		return nil
	}
	return fmt.Errorf("writing to %s: %w (%d datagrams received were not written)", outName, p.err, p.unwritten)
}

// every calls fn every period, from a goroutine of its own, until the
// returned function is called; that function returns once fn is not
// running.
func every(period time.Duration, fn func()) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(period)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				fn()
			}
		}
	}()
	return func() { close(done); wg.Wait() }
}

// ifname returns the name of interface index i; p.mu is held.
func (p *printer) ifname(i int) string {
	if i == 0 {
		return ""
	}
	if n, ok := p.ifnames[i]; ok {
		return n
	}
	n := strconv.Itoa(i)
	if ifi, err := net.InterfaceByIndex(i); err == nil {
		n = ifi.Name
	}
	p.ifnames[i] = n
	return n
}

// appendText appends the one-line summary of d.
func (p *printer) appendText(b []byte, d *dispatch.Datagram) []byte {
	b = d.Time.AppendFormat(b, "15:04:05.000000 ")
	b = appendGroupPort(b, d)
	b = append(b, " from "...)
	b = d.Source.AppendTo(b)
	if d.IfIndex != 0 {
		b = append(b, " on "...)
		b = append(b, p.ifname(d.IfIndex)...)
	}
	b = append(b, ": "...)
	b = strconv.AppendInt(b, int64(len(d.Payload)), 10)
	b = append(b, " bytes, "...)
	b = appendDescription(b, d.Payload, d.Time)
	return append(b, '\n')
}

func appendGroupPort(b []byte, d *dispatch.Datagram) []byte {
	if d.Group.Is6() {
		b = append(b, '[')
		b = d.Group.AppendTo(b)
		b = append(b, ']')
	} else {
		b = d.Group.AppendTo(b)
	}
	b = append(b, ':')
	return strconv.AppendUint(b, uint64(d.Port), 10)
}

// appendDescription says what a payload is: a sharecast test datagram, a
// MoldUDP64 packet, or the start of its bytes.
func appendDescription(b, payload []byte, recv time.Time) []byte {
	if wire.Is(payload) { // first, since the decoder's error would be allocated
		if h, err := wire.Decode(payload); err == nil {
			b = append(b, "sharecast stream "...)
			b = appendHex64(b, h.Stream)
			b = append(b, " seq "...)
			b = strconv.AppendUint(b, h.Seq, 10)
			b = append(b, ", latency "...)
			return append(b, recv.Sub(h.Time()).String()...)
		}
	}
	if m, ok := moldudp64.TryDecode(payload); ok {
		b = append(b, "moldudp64 session "...)
		b = strconv.AppendQuote(b, m.Session.String())
		b = append(b, " seq "...)
		b = strconv.AppendUint(b, m.Seq, 10)
		switch {
		case m.IsHeartbeat():
			return append(b, " heartbeat"...)
		case m.IsEndOfSession():
			return append(b, " end of session"...)
		}
		b = append(b, " count "...)
		return strconv.AppendUint(b, uint64(m.Count), 10)
	}
	const preview = 32
	s := payload[:min(len(payload), preview)]
	if utf8.Valid(s) {
		b = strconv.AppendQuote(b, string(s))
	} else {
		b = append(b, "0x"...)
		b = hex.AppendEncode(b, s)
	}
	if len(payload) > preview {
		b = append(b, "..."...)
	}
	return b
}

func appendHex64(b []byte, v uint64) []byte {
	const digits = "0123456789abcdef"
	for i := 60; i >= 0; i -= 4 {
		b = append(b, digits[(v>>uint(i))&0xf])
	}
	return b
}

// appendJSON appends d as a JSON object and a newline.
func (p *printer) appendJSON(b []byte, d *dispatch.Datagram) []byte {
	b = append(b, `{"time":"`...)
	b = d.Time.UTC().AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","socket":`...)
	b = appendJSONString(b, d.Socket)
	b = append(b, `,"source":"`...)
	b = d.Source.AppendTo(b)
	b = append(b, `","group":"`...)
	b = d.Group.AppendTo(b)
	b = append(b, `","port":`...)
	b = strconv.AppendUint(b, uint64(d.Port), 10)
	b = append(b, `,"interface":`...)
	b = appendJSONString(b, p.ifname(d.IfIndex))
	if d.TTL >= 0 {
		b = append(b, `,"ttl":`...)
		b = strconv.AppendInt(b, int64(d.TTL), 10)
	}
	b = append(b, `,"length":`...)
	b = strconv.AppendInt(b, int64(len(d.Payload)), 10)
	b = appendDecodedJSON(b, d.Payload, d.Time)
	if p.encoding == "hex" {
		b = append(b, `,"payload_hex":"`...)
		b = hex.AppendEncode(b, d.Payload)
	} else {
		b = append(b, `,"payload_base64":"`...)
		b = base64.StdEncoding.AppendEncode(b, d.Payload)
	}
	return append(b, "\"}\n"...)
}

// appendDecodedJSON appends what a payload is, where listen knows: the
// sharecast header's stream, sequence number and latency, or a MoldUDP64
// packet's session, first sequence number and message count.
func appendDecodedJSON(b, payload []byte, recv time.Time) []byte {
	if wire.Is(payload) {
		if h, err := wire.Decode(payload); err == nil {
			b = append(b, `,"sharecast":{"stream":"`...)
			b = appendHex64(b, h.Stream)
			b = append(b, `","seq":`...)
			b = strconv.AppendUint(b, h.Seq, 10)
			b = append(b, `,"latency_ns":`...)
			b = strconv.AppendInt(b, int64(recv.Sub(h.Time())), 10)
			return append(b, '}')
		}
	}
	if m, ok := moldudp64.TryDecode(payload); ok {
		b = append(b, `,"moldudp64":{"session":"`...)
		var scratch [48]byte
		name, _ := m.Session.AppendText(scratch[:0]) // printable ASCII, or quoted ASCII
		for _, c := range name {
			if c == '"' || c == '\\' {
				b = append(b, '\\')
			}
			b = append(b, c)
		}
		b = append(b, '"')
		b = append(b, `,"seq":`...)
		b = strconv.AppendUint(b, m.Seq, 10)
		b = append(b, `,"count":`...)
		b = strconv.AppendUint(b, uint64(m.Count), 10)
		return append(b, '}')
	}
	return b
}

// appendJSONString appends s as a JSON string.
func appendJSONString(b []byte, s string) []byte {
	const digits = "0123456789abcdef"
	b = append(b, '"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b = append(b, '\\', byte(r))
		case r < 0x20:
			b = append(b, '\\', 'u', '0', '0', digits[r>>4], digits[r&0xf])
		default:
			b = utf8.AppendRune(b, r)
		}
	}
	return append(b, '"')
}
