package cli

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/pflag"

	"github.com/sharecast/sharecast/dispatch"
	"github.com/sharecast/sharecast/natsrelay"
)

// natsSessionFlags let listen and stat read a relayed feed from a NATS
// JetStream subject (sharecast relay --nats) instead of joining groups.
type natsSessionFlags struct {
	natsFlags
	url, subject, stream, durable string
	port                          uint16
}

func (f *natsSessionFlags) add(fs *pflag.FlagSet) {
	fs.StringVar(&f.url, "nats", "", "read a feed relayed to this NATS server (sharecast relay --nats) instead of joining groups; with --subject")
	fs.StringVar(&f.subject, "subject", "", "with --nats: the JetStream subject to read")
	fs.StringVar(&f.stream, "stream", "", "with --nats: the stream (default: the one that holds the subject)")
	fs.StringVar(&f.durable, "durable", "", "with --nats: a durable consumer to read through, which a later run resumes (default: one for this run, from the datagrams published after it starts)")
	fs.Uint16Var(&f.port, "port", 0, "with --nats: take only the datagrams relayed from this destination port, and report it as theirs (default: every port, reported as 0)")
	f.natsFlags.add(fs)
}

// specs checks the command line's groups: with --nats there are none.
func (f *natsSessionFlags) specs(args []string) ([]string, error) {
	if f.url == "" {
		if f.subject != "" {
			return nil, usagef("--subject goes with --nats")
		}
		return parseSpecs(args)
	}
	if len(args) > 0 {
		return nil, usagef("with --nats, no GROUP: the feed is the subject's")
	}
	if f.subject == "" {
		return nil, usagef("--nats needs --subject")
	}
	return nil, nil
}

// startNATSSession is startSession for a feed read from NATS: a
// natsrelay.Source served to the handlers of mux.
func startNATSSession(ctx context.Context, e *env, f *sessionFlags, mux *dispatch.Mux, watch *groupWatch, extra func(chan<- prometheus.Metric)) (_ *session, err error) {
	nc, js, err := f.nats.connect(e, f.nats.url)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			nc.Close()
		}
	}()
	scfg := &natsrelay.SourceConfig{Subject: f.nats.subject, Stream: f.nats.stream, Durable: f.nats.durable, Port: f.nats.port, Logger: e.log}
	if scfg.Durable == "" {
		var b [6]byte
		rand.Read(b[:])
		scfg.Durable = "sharecast-" + hex.EncodeToString(b[:])
		scfg.New = true
		scfg.InactiveThreshold = time.Minute
	}
	sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	src, err := natsrelay.NewSource(sctx, js, scfg)
	cancel()
	if err != nil {
		return nil, err
	}
	srv, err := dispatch.NewServer(mux, &dispatch.Config{BufferSize: f.buffer, Logger: e.log})
	if err == nil {
		err = srv.AddSource("nats", src)
	}
	if err != nil {
		src.Close()
		return nil, err
	}
	s := &session{srv: srv, serve: make(chan error, 1), watch: watch, maxSilence: f.maxSilence, outFailed: e.outFailed,
		stopWatch: make(chan struct{})}
	s.close = func() error {
		err := srv.Close()
		src.Close()
		nc.Close()
		if errors.Is(err, dispatch.ErrServerClosed) {
			err = nil
		}
		return err
	}
	s.summary = func(w io.Writer) {
		st := src.Stats()
		fmt.Fprintf(w, "  nats %s: messages %d, delivered %d; relay numbers missing %d (gaps %d), late %d; skipped: redelivered %d, stale %d, malformed %d, other port %d, too long %d; consumer errors %d\n",
			f.nats.subject, st.Messages, st.Delivered, st.Missing, st.Gaps, st.Late, st.Duplicates, st.Stale, st.Malformed, st.OtherPort, st.Truncated, st.Errors)
	}
	if f.metrics != "" {
		if s.metrics, err = serveMetrics(f.metrics, &metricsCollector{srv: srv, extra: extra}, e.log); err != nil {
			s.close()
			return nil, err
		}
	}
	e.log.Info().Str("nats", natsrelay.Redact(f.nats.url)).Str("subject", f.nats.subject).Str("durable", scfg.Durable).Msg("listening")
	s.start = time.Now()
	watch.start = s.start
	var sctx2 context.Context
	sctx2, s.cancel = context.WithCancel(context.WithoutCancel(ctx))
	go func() {
		served := make(chan error, 1)
		go func() { served <- srv.Serve(context.WithoutCancel(sctx2)) }()
		select {
		case err := <-served:
			s.serve <- err
			return
		case <-sctx2.Done():
		}
		tctx, cancel := context.WithTimeout(context.Background(), dispatch.DefaultShutdownTimeout)
		err := srv.Shutdown(tctx)
		cancel()
		if serr := <-served; serr != nil && !errors.Is(serr, dispatch.ErrServerClosed) && err == nil {
			err = serr
		}
		s.serve <- err
	}()
	return s, nil
}
