package tools

import (
	"flag"
	"fmt"
	"io"
	"net/netip"
	"os"

	"github.com/sharecast/sharecast/dispatch"
	"github.com/sharecast/sharecast/internal/outfile"
	"github.com/sharecast/sharecast/internal/pcap"
)

// RecordSummary is the recorder's part of the summary.
type RecordSummary struct {
	File    string `json:"file"`
	Records uint64 `json:"records"`
	// Errors counts datagrams that could not be written (the first error
	// is logged); the recorder goes on.
	Errors uint64 `json:"errors"`
	// Skipped counts datagrams that came after -max-bytes was reached,
	// while the tool stopped: not written.
	Skipped uint64 `json:"skipped"`
}

type recorder struct {
	path     string
	maxBytes uint64
	c        *common
	f        *os.File
	w        *pcap.Writer
	bytes    uint64
	errors   uint64
	skipped  uint64
	err      error
	closed   bool
}

func (r *recorder) flags(fs *flag.FlagSet) {
	fs.StringVar(&r.path, "w", "fanout.pcap", "record: the pcap file to write (- for standard output); a new file is mode 0600, and a symbolic link there is refused, not followed")
	fs.Uint64Var(&r.maxBytes, "max-bytes", 0, "record: stop once this many payload bytes are written (0: no limit)")
}

func (r *recorder) open(c *common) error {
	var out io.Writer
	if r.path == "-" {
		out = os.Stdout
	} else {
		f, err := outfile.Create(r.path, 0)
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
	r.w, r.c = w, c
	return nil
}

func (r *recorder) ready() string { return " -> " + r.path }

func (r *recorder) handle(d *dispatch.Datagram) {
	if r.maxBytes > 0 && r.bytes >= r.maxBytes {
		r.skipped++
		return
	}
	dst := netip.AddrPortFrom(d.Group, d.Port)
	if err := r.w.WriteUDP(d.Time, d.Source, dst, d.Payload); err != nil {
		if r.errors == 0 {
			r.err = err
		}
		r.errors++
		return
	}
	r.bytes += uint64(len(d.Payload))
	if r.maxBytes > 0 && r.bytes >= r.maxBytes {
		r.c.stop() // -max-bytes reached
	}
}

func (r *recorder) tick(io.Writer, *common) {}

func (r *recorder) finish(s *Summary) {
	s.Bytes = r.bytes
	s.Record = &RecordSummary{File: r.path, Records: r.w.Records(), Errors: r.errors, Skipped: r.skipped}
}

func (r *recorder) text(w io.Writer, s *Summary) {
	fmt.Fprintf(w, "  %d records written to %s", s.Record.Records, s.Record.File)
	if s.Record.Skipped > 0 {
		fmt.Fprintf(w, "; %d after -max-bytes not written", s.Record.Skipped)
	}
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
