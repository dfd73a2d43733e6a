package tools

import (
	"flag"
	"fmt"
	"io"
	"net/netip"
	"os"

	"github.com/sharecast/sharecast/dispatch"
	"github.com/sharecast/sharecast/internal/pcap"
)

// RecordSummary is the recorder's part of the summary.
type RecordSummary struct {
	File    string `json:"file"`
	Records uint64 `json:"records"`
	// Errors counts datagrams that could not be written (the first error
	// is logged); the recorder goes on.
	Errors uint64 `json:"errors"`
}

type recorder struct {
	path   string
	f      *os.File
	w      *pcap.Writer
	bytes  uint64
	errors uint64
	err    error
	closed bool
}

func (r *recorder) flags(fs *flag.FlagSet) {
	fs.StringVar(&r.path, "w", "fanout.pcap", "record: the pcap file to write (- for standard output)")
}

func (r *recorder) open(c *common) error {
	var out io.Writer
	if r.path == "-" {
		out = os.Stdout
	} else {
		f, err := os.Create(r.path)
		if err != nil {
			return err
		}
		r.f = f
		out = f
	}
	w, err := pcap.NewWriter(out)
	if err != nil {
		r.close()
		return err
	}
	r.w = w
	return nil
}

func (r *recorder) ready() string { return " -> " + r.path }

func (r *recorder) handle(d *dispatch.Datagram) {
	dst := netip.AddrPortFrom(d.Group, d.Port)
	if err := r.w.WriteUDP(d.Time, d.Source, dst, d.Payload); err != nil {
		if r.errors == 0 {
			r.err = err
		}
		r.errors++
		return
	}
	r.bytes += uint64(len(d.Payload))
}

func (r *recorder) tick(io.Writer, *common) {}

func (r *recorder) finish(s *Summary) {
	s.Bytes = r.bytes
	s.Record = &RecordSummary{File: r.path, Records: r.w.Records(), Errors: r.errors}
}

func (r *recorder) text(w io.Writer, s *Summary) {
	fmt.Fprintf(w, "  %d records written to %s", s.Record.Records, s.Record.File)
	if s.Record.Errors > 0 {
		fmt.Fprintf(w, "; %d not written: %v", s.Record.Errors, r.err)
	}
	fmt.Fprintln(w)
}

// close flushes and closes the file; it may be called more than once.
func (r *recorder) close() error {
	if r.closed {
		return nil
	}
	r.closed = true
	var err error
	if r.w != nil {
		err = r.w.Flush()
	}
	if r.f != nil {
		if cerr := r.f.Close(); err == nil {
			err = cerr
		}
	}
	return err
}
