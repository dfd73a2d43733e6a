package cli

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"golang.org/x/net/ipv4"

	"github.com/sharecast/sharecast/dispatch"
	"github.com/sharecast/sharecast/group"
	"github.com/sharecast/sharecast/mcast"
	"github.com/sharecast/sharecast/natsrelay"
)

// natsFlags are the flags that say how to reach a NATS server; the URL
// flag's name differs by subcommand and mode.
type natsFlags struct {
	cfg natsrelay.ConnConfig
}

func (f *natsFlags) add(fs *pflag.FlagSet) {
	fs.StringVar(&f.cfg.User, "user", "", "NATS user name")
	fs.StringVar(&f.cfg.Password, "password", "", "NATS password (visible to other users in the process list: prefer --creds or --nkey)")
	fs.StringVar(&f.cfg.Token, "token", "", "NATS authentication token (visible in the process list too)")
	fs.StringVar(&f.cfg.NKeyFile, "nkey", "", "file holding an nkey seed to authenticate with")
	fs.StringVar(&f.cfg.CredsFile, "creds", "", "NATS credentials file (user JWT and nkey seed)")
	fs.StringVar(&f.cfg.TLSCA, "tls-ca", "", "PEM file of the CAs to trust for the server's certificate")
	fs.StringVar(&f.cfg.TLSCert, "tls-cert", "", "client certificate (PEM), for servers that verify clients")
	fs.StringVar(&f.cfg.TLSKey, "tls-key", "", "client key (PEM)")
}

// connect connects to url with the flags' credentials (which never reach
// the log), for JetStream.
func (f *natsFlags) connect(e *env, url string) (*nats.Conn, jetstream.JetStream, error) {
	c := f.cfg
	c.URL = url
	c.Logger = e.log
	if (c.TLSCert == "") != (c.TLSKey == "") {
		return nil, nil, usagef("--tls-cert and --tls-key go together")
	}
	nc, err := natsrelay.Connect(&c)
	if err != nil {
		return nil, nil, err
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, nil, fmt.Errorf("jetstream: %w", err)
	}
	return nc, js, nil
}

type relayFlags struct {
	recvFlags
	natsFlags
	nats, subject, stream string
	noCreate              bool
	storage, retention    string
	maxBytes              int
	maxAge                time.Duration
	replicas              int
	maxInFlight, buffer   int
	closeTimeout          time.Duration

	fromNATS, to, durable, pace string
	ttl                         int
	loop                        bool
	count                       uint64
}

func newRelayCmd(e *env) *cobra.Command {
	var f relayFlags
	cmd := &cobra.Command{
		Use:   "relay GROUP... --nats URL | relay --from-nats URL --subject S --to GROUP",
		Short: "Relay groups through NATS JetStream, and back to multicast elsewhere",
		Long: `relay carries a multicast feed beyond its network, through NATS JetStream.

With --nats, relay joins the groups (a shared socket, as listen does) and
publishes each datagram to the JetStream subject --subject, asynchronously,
with its metadata in headers: Sharecast-Source, -Group, -Port, -Interface,
-Ifindex, -Ttl, -Time (the kernel's receive time, ns since the Unix epoch),
and Sharecast-Relay and Sharecast-Seq, the relay's name and its own number
for the datagram, so that consumers see what was lost. At most
--max-in-flight publishes await the server's acknowledgement; a failed one
is retried (in order, the server dropping a retry it stored already by its
Nats-Msg-Id); what comes while --buffer datagrams are held, and what fails
for a minute, is not published and is counted. The stream --stream is
created if missing, bound to the subject, with --storage, --retention,
--max-bytes, --max-age and --replicas, unless --no-create asks for an error
instead. On exit, relay waits up to --close-timeout for the publishes in
flight and prints what it received, published and lost; it exits with
status 1 if any datagram was not published.

With --from-nats, relay reads the subject through a durable consumer
(--durable: a relay started again resumes where it stopped) and sends each
datagram's original payload to the group --to, in order, paced as the
datagrams arrived at the first relay (--pace arrival) or as fast as the
socket takes them (--pace none), with --ttl, --loop and -i as send has
(default: the loopback interface, so nothing leaves the host).

Credentials pass to the NATS client as it takes them: --user/--password,
--token, --nkey, --creds, and TLS with a tls:// URL or --tls-ca,
--tls-cert, --tls-key. They never appear in the log.`,
		Example: `  sharecast relay 239.1.2.3:5000 --nats nats://nats.example:4222 --subject feed.a
  sharecast relay 239.1.2.3:5000%eth0 --nats tls://nats.example:4222 --creds relay.creds --stream FEEDS --no-create
  sharecast relay 239.1.2.3:5000 --nats nats://127.0.0.1:4222 --storage memory --max-bytes 256MiB --max-age 1h
  sharecast relay --from-nats nats://nats.example:4222 --subject feed.a --to 239.9.9.9:6000 -i eth1 --ttl 4
  sharecast relay --from-nats nats://nats.example:4222 --subject feed.a --to 239.9.9.9:6000 --pace none --durable site-b`,
		Args: cobra.ArbitraryArgs,
		RunE: runE(func(cmd *cobra.Command, args []string) error {
			switch {
			case f.fromNATS != "" && f.nats != "":
				return usagef("--nats and --from-nats do not go together: relay either publishes groups to NATS or re-sends a subject as multicast")
			case f.fromNATS != "":
				if len(args) > 0 {
					return usagef("with --from-nats, the group to send to is --to, not an argument")
				}
				if f.to == "" {
					return usagef("--from-nats needs --to GROUP, the group to send to")
				}
				return runRelayFrom(cmd.Context(), e, &f)
			case f.nats != "":
				specs, err := parseSpecs(args)
				if err != nil {
					return err
				}
				return runRelayTo(cmd.Context(), e, specs, &f)
			default:
				return usagef("relay needs --nats URL (publish GROUP... to NATS) or --from-nats URL (re-send a subject as multicast)")
			}
		}),
	}
	fs := cmd.Flags()
	f.recvFlags.add(fs)
	fs.Lookup("iface").Usage = "join on this interface (name, index or address; repeatable; a spec's own %IFACE wins; default: the kernel's choice by its routing table); with --from-nats, the one interface to send out of (default: loopback)"
	f.natsFlags.add(fs)
	fs.StringVar(&f.nats, "nats", "", "publish the groups to this NATS server (nats://host:4222, tls://..., several separated by commas)")
	fs.StringVar(&f.subject, "subject", "sharecast", "JetStream subject to publish to, or to read with --from-nats")
	fs.StringVar(&f.stream, "stream", "", "JetStream stream (default: "+natsrelay.DefaultStream+"; with --from-nats, the one that holds the subject)")
	fs.BoolVar(&f.noCreate, "no-create", false, "fail if the stream does not exist rather than create it")
	fs.StringVar(&f.storage, "storage", "file", "storage of a stream created: file or memory")
	fs.StringVar(&f.retention, "retention", "limits", "retention of a stream created: limits, interest or workqueue")
	fs.Var(&sizeValue{v: &f.maxBytes, max: 1 << 62}, "max-bytes", "size cap of a stream created, such as 1GiB (0: 1 GiB); the oldest messages go first")
	fs.DurationVar(&f.maxAge, "max-age", 0, "age cap of a stream created, such as 1h (0: 24h)")
	fs.IntVar(&f.replicas, "replicas", 1, "replicas of a stream created, in a cluster (1 to 5)")
	fs.IntVar(&f.maxInFlight, "max-in-flight", 4096, "publishes awaiting the server's acknowledgement at most")
	fs.IntVar(&f.buffer, "buffer", 65536, "datagrams held at most (in flight, waiting, retrying): what covers an outage of the server")
	fs.DurationVar(&f.closeTimeout, "close-timeout", 10*time.Second, "on exit, how long to wait for the publishes in flight")
	fs.StringVar(&f.fromNATS, "from-nats", "", "re-send a subject of this NATS server as multicast to --to")
	fs.StringVar(&f.to, "to", "", "with --from-nats: the group to send to, GROUP as send takes it")
	fs.StringVar(&f.durable, "durable", "sharecast-relay", "with --from-nats: the durable consumer's name (a relay started again resumes)")
	fs.StringVar(&f.pace, "pace", "arrival", "with --from-nats: arrival (as the datagrams arrived at the first relay) or none (as fast as the socket takes them)")
	fs.IntVar(&f.ttl, "ttl", 1, "with --from-nats: multicast TTL (IPv6 hop limit)")
	fs.BoolVar(&f.loop, "loop", true, "with --from-nats: deliver to receivers on this host too (IP_MULTICAST_LOOP)")
	fs.VarP(&countValue{v: &f.count}, "count", "c", "with --from-nats: exit after sending this many datagrams (0: no limit)")
	return cmd
}

// runRelayTo publishes the groups of specs to NATS.
func runRelayTo(ctx context.Context, e *env, specs []string, f *relayFlags) error {
	if f.storage != "file" && f.storage != "memory" {
		return usagef("invalid argument %q for \"--storage\" flag: want file or memory", f.storage)
	}
	if f.replicas < 1 || f.replicas > 5 {
		return usagef("invalid argument %d for \"--replicas\" flag: want 1 to 5", f.replicas)
	}
	if f.maxInFlight < 1 || f.buffer < f.maxInFlight {
		return usagef("--max-in-flight %d and --buffer %d: want 1 or more, and a buffer at least as large", f.maxInFlight, f.buffer)
	}
	if f.maxAge < 0 || f.closeTimeout < 0 {
		return usagef("--max-age and --close-timeout: want a positive duration")
	}
	lcfg, err := f.recvFlags.listenConfig(e.log)
	if err != nil {
		return err
	}
	nc, js, err := f.natsFlags.connect(e, f.nats)
	if err != nil {
		return err
	}
	defer nc.Close()
	scfg := &natsrelay.StreamConfig{Name: f.stream, NoCreate: f.noCreate, Memory: f.storage == "memory",
		Retention: f.retention, MaxBytes: int64(f.maxBytes), MaxAge: f.maxAge, Replicas: f.replicas}
	sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	_, err = natsrelay.EnsureStream(sctx, js, f.subject, scfg)
	cancel()
	if errors.Is(err, natsrelay.ErrInvalidConfig) {
		return &usageError{err}
	}
	if err != nil {
		return err
	}
	pub, err := natsrelay.NewPublisher(nc, &natsrelay.PublisherConfig{Subject: f.subject, MaxInFlight: f.maxInFlight, Buffer: f.buffer, Logger: e.log})
	if err != nil {
		return err
	}
	lcfg.Handler = &dispatch.HandlerConfig{Name: "nats", Inline: true}
	r, err := dispatch.Listen(ctx, specs, pub, lcfg)
	if err != nil {
		pub.Close(ctx)
		return listenError(err, lcfg.Share)
	}
	defer r.Close()
	e.log.Info().Strs("groups", specs).Str("nats", natsrelay.Redact(f.nats)).Str("subject", f.subject).
		Str("relay", pub.RelayID()).Msg("relaying")
	serr := r.Serve(ctx)
	cctx, cancel := context.WithTimeout(context.Background(), f.closeTimeout)
	cerr := pub.Close(cctx)
	cancel()
	st := pub.Stats()
	kernel := uint64(0)
	for _, so := range r.Stats().Sockets {
		if so.Kernel != nil {
			kernel += so.Kernel.KernelDrops
		}
	}
	fmt.Fprintf(e.stderr, "sharecast relay: received %s, published %s to %s (publish errors %d, retries %d); not published: %s (buffer full %d, failed %d, unacknowledged at exit %d); kernel drops %d\n",
		plural(st.Received, "datagram"), plural(st.Published, "datagram"), f.subject, st.Errors, st.Retries,
		plural(st.Lost(), "datagram"), st.Overflow, st.Failed, st.Abandoned+st.Rejected, kernel)
	switch {
	case serr != nil && !errors.Is(serr, context.Canceled):
		return serr
	case st.Lost() > 0:
		if cerr != nil {
			return cerr
		}
		return fmt.Errorf("%s received were not published", plural(st.Lost(), "datagram"))
	}
	return nil
}

// runRelayFrom re-sends a subject as multicast.
func runRelayFrom(ctx context.Context, e *env, f *relayFlags) error {
	spec, err := group.ParseSpec(f.to)
	if err != nil {
		return &usageError{fmt.Errorf("--to: %w", err)}
	}
	if f.pace != "arrival" && f.pace != "none" {
		return usagef("invalid argument %q for \"--pace\" flag: want arrival or none", f.pace)
	}
	if f.ttl < 0 || f.ttl > 255 {
		return usagef("invalid argument %d for \"--ttl\" flag: want 0 to 255", f.ttl)
	}
	name := spec.Interface
	switch {
	case len(f.ifaces) > 1:
		return usagef("with --from-nats, one -i: the interface to send out of")
	case len(f.ifaces) == 1:
		name = f.ifaces[0]
	}
	ifi, err := sendInterface(name)
	if err != nil {
		return err
	}
	snd, err := newSender(spec.AddrPort(), ifi, spec.Source, f.ttl, f.loop, -1)
	if err != nil {
		return err
	}
	defer snd.uc.Close()
	nc, js, err := f.natsFlags.connect(e, f.fromNATS)
	if err != nil {
		return err
	}
	defer nc.Close()
	sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	src, err := natsrelay.NewSource(sctx, js, &natsrelay.SourceConfig{Subject: f.subject, Stream: f.stream, Durable: f.durable, Logger: e.log})
	cancel()
	if err != nil {
		return err
	}
	stop := context.AfterFunc(ctx, func() { src.Close() })
	defer stop()
	defer src.Close()
	e.log.Info().Str("nats", natsrelay.Redact(f.fromNATS)).Str("subject", f.subject).Str("group", spec.AddrPort().String()).
		Str("iface", ifi.Name).Int("ttl", f.ttl).Str("pace", f.pace).Msg("re-sending")

	var sent, bytes, retries uint64
	var start, t0, last time.Time
	ds := mcast.NewBatch(64, 65535)
	ms := make([]ipv4.Message, 1)
	ms[0].Addr = snd.dst
	var rerr error
loop:
	for f.count == 0 || sent < f.count {
		batch := ds
		if f.count != 0 {
			// Read (and so acknowledge) no more than will be sent: the
			// durable consumer resumes after the last one sent.
			batch = ds[:min(uint64(len(ds)), f.count-sent)]
		}
		n, err := src.ReadBatch(batch)
		for i := range batch[:n] {
			d := &batch[i]
			if f.pace == "arrival" && !d.Time.IsZero() {
				switch {
				case t0.IsZero():
					start, t0 = time.Now(), d.Time
				case d.Time.After(last):
					realClock{}.Sleep(ctx, time.Until(start.Add(d.Time.Sub(t0))))
				}
				last = d.Time
			}
			ms[0].Buffers = [][]byte{d.Payload}
			for {
				_, werr := snd.writeBatch(ms)
				if werr == nil {
					break
				}
				if !transient(werr) || ctx.Err() != nil {
					rerr = fmt.Errorf("send to %s on %s: %w", snd.dst, ifi.Name, werr)
					break loop
				}
				retries++
				time.Sleep(100 * time.Microsecond) // the queue drains in microseconds
			}
			sent++
			bytes += uint64(len(d.Payload))
			if f.count != 0 && sent == f.count {
				break loop
			}
		}
		if err != nil {
			if !errors.Is(err, net.ErrClosed) || ctx.Err() == nil {
				rerr = err
			}
			break
		}
	}
	st := src.Stats()
	fmt.Fprintf(e.stderr, "sharecast relay: re-sent %s, %s from %s to %s on %s (%s retried); relay numbers missing %d, late %d, redeliveries skipped %d, malformed %d, too long %d\n",
		plural(sent, "datagram"), plural(bytes, "byte"), f.subject, spec.AddrPort(), ifi.Name, plural(retries, "send"),
		st.Missing, st.Late, st.Duplicates+st.Stale, st.Malformed, st.Truncated)
	return rerr
}
