package tools_test

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/sharecast/sharecast/internal/pcap"
	"github.com/sharecast/sharecast/internal/testbed"
)

// record keeps every datagram that UDP over IPv4 can carry, 65,507 bytes
// at most, whole; with -buffer it keeps those up to that size and counts
// the longer ones as truncated.
func TestRecordLongDatagrams(t *testing.T) {
	testbed.Require(t)
	for _, c := range []struct {
		name   string
		args   []string
		sizes  []int
		wanted []int // the sizes recorded, in order
	}{
		{"default", nil, []int{65507, 9217, 1, 65506}, []int{65507, 9217, 1, 65506}},
		{"buffer-9216", []string{"-buffer", "9216"}, []int{9216, 9217, 65507, 5}, []int{9216, 5}},
	} {
		t.Run(c.name, func(t *testing.T) {
			// -duration ends a recorder that misses datagrams, to fail
			// with its summary; one that records them all ends at -count.
			g := netip.MustParseAddrPort("239.5.5.7:6002")
			path := filepath.Join(t.TempDir(), "long.pcap")
			args := append(c.args, "-count", strconv.Itoa(len(c.wanted)), "-duration", "20s", "-format", "json", "-w", path, g.String())
			rec := startTool(t, "record", args...)
			s := testbed.NewSender(t, g, nil, netip.Addr{})
			var sent [][]byte
			for i, n := range c.sizes {
				b := bytes.Repeat([]byte{byte(i + 1)}, n)
				b[n-1] = 0xee // the last byte, to see that none is cut off
				if err := s.Send(b); err != nil {
					t.Fatalf("send %d bytes: %v", n, err)
				}
				sent = append(sent, b)
			}
			sum := rec.wait(t, 60*time.Second)
			truncated := uint64(len(c.sizes) - len(c.wanted))
			if sum.Datagrams != uint64(len(c.wanted)) || sum.Truncated != truncated || sum.KernelDrops != 0 ||
				sum.Record == nil || sum.Record.Records != uint64(len(c.wanted)) || sum.Record.Errors != 0 {
				t.Fatalf("summary %+v, record %+v; want %d recorded, %d truncated", sum, sum.Record, len(c.wanted), truncated)
			}

			r := openPcap(t, path)
			j := 0
			for i, b := range sent {
				if !slices.Contains(c.wanted, len(b)) {
					continue
				}
				rec, err := r.Next()
				if err != nil {
					t.Fatalf("record %d: %v", j, err)
				}
				u, err := pcap.ParseUDP(rec.Data)
				if err != nil || !u.ChecksumOK || u.Dst != g || !bytes.Equal(u.Payload, b) {
					t.Fatalf("record %d: %d bytes to %v (checksum ok %v, %v), want datagram %d, %d bytes to %v, whole",
						j, len(u.Payload), u.Dst, u.ChecksumOK, err, i, len(b), g)
				}
				j++
			}
			if _, err := r.Next(); !errors.Is(err, io.EOF) {
				t.Fatalf("after %d records: %v, want the end of the file", j, err)
			}
		})
	}
}

// openPcap opens the pcap file at path for reading; it is closed when the
// test ends.
func openPcap(t *testing.T, path string) *pcap.Reader {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	r, err := pcap.NewReader(bufio.NewReader(f))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// record refuses to write through a symbolic link (its target is left
// alone), makes a new file its owner's only, and stops at -max-bytes.
func TestRecordSafely(t *testing.T) {
	testbed.Require(t)
	dir := t.TempDir()
	target := filepath.Join(dir, "precious")
	if err := os.WriteFile(target, []byte("keep"), 0o644); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "link.pcap")
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	g := netip.MustParseAddrPort("239.5.5.8:6003")
	cmd := testbed.Command(t, "record", "-w", link, g.String())
	cmd.Stdout, cmd.Stderr = nil, nil
	out, err := cmd.CombinedOutput()
	if err == nil || !bytes.Contains(out, []byte("symbolic link")) {
		t.Errorf("record -w SYMLINK: %v, want a refusal naming the link:\n%s", err, out)
	}
	if b, _ := os.ReadFile(target); string(b) != "keep" {
		t.Errorf("the link's target was written: %q", b)
	}

	path := filepath.Join(dir, "capped.pcap")
	rec := startTool(t, "record", "-max-bytes", "1000", "-duration", "20s", "-format", "json", "-w", path, g.String())
	<-rec.ready
	s := testbed.NewSender(t, g, nil, netip.Addr{})
	for range 50 {
		if err := s.Send(make([]byte, 100)); err != nil {
			t.Fatal(err)
		}
	}
	sum := rec.wait(t, 60*time.Second)
	if sum.Record == nil || sum.Record.Records != 10 || sum.Record.Records+sum.Record.Skipped != sum.Datagrams {
		t.Errorf("record -max-bytes 1000 of 100-byte datagrams: %+v of %d, want 10 records and the rest skipped", sum.Record, sum.Datagrams)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("the capture: %v, mode %v; want 0600", err, fi.Mode().Perm())
	}
}
