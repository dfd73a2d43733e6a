package pcap_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sharecast/sharecast/internal/extest"
	"github.com/sharecast/sharecast/internal/pcap"
)

type datagram struct {
	t        time.Time
	src, dst netip.AddrPort
	payload  []byte
}

func sample() []datagram {
	t0 := time.Date(2024, 6, 7, 12, 0, 0, 123456789, time.UTC)
	var ds []datagram
	for i := range 50 {
		p := make([]byte, i*37%1500)
		for j := range p {
			p[j] = byte(i*7 + j)
		}
		src := netip.MustParseAddrPort("10.1.2.3:40000")
		dst := netip.MustParseAddrPort("239.1.2.3:5000")
		if i%3 == 0 {
			src = netip.MustParseAddrPort("[fe80::1]:40001")
			dst = netip.MustParseAddrPort("[ff15::1]:5001")
		}
		ds = append(ds, datagram{t0.Add(time.Duration(i) * 1001 * time.Nanosecond), src, dst, p})
	}
	return ds
}

func write(t *testing.T, ds []datagram) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := pcap.NewWriter(&buf)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range ds {
		if err := w.WriteUDP(d.t, d.src, d.dst, d.payload); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if w.Records() != uint64(len(ds)) {
		t.Fatalf("Records() = %d, want %d", w.Records(), len(ds))
	}
	return buf.Bytes()
}

// TestRoundTrip writes IPv4 and IPv6 datagrams and reads them back: the
// same times, addresses and payloads, and right checksums.
func TestRoundTrip(t *testing.T) {
	ds := sample()
	r, err := pcap.NewReader(bytes.NewReader(write(t, ds)))
	if err != nil {
		t.Fatal(err)
	}
	if h := r.Header(); !h.Nanoseconds || h.LinkType != pcap.LinkTypeRaw || h.SnapLen != pcap.DefaultSnapLen ||
		h.ByteOrder.Uint16([]byte{1, 2}) != binary.NativeEndian.Uint16([]byte{1, 2}) {
		t.Errorf("header %+v", h)
	}
	for i, d := range ds {
		rec, err := r.Next()
		if err != nil {
			t.Fatalf("record %d: %v", i, err)
		}
		u, err := pcap.ParseUDP(rec.Data)
		if err != nil {
			t.Fatalf("record %d: %v", i, err)
		}
		if !rec.Time.Equal(d.t) || u.Src != d.src || u.Dst != d.dst || !bytes.Equal(u.Payload, d.payload) || !u.ChecksumOK || rec.OrigLen != len(rec.Data) {
			t.Errorf("record %d: %v %v->%v %d bytes (checksum ok %v), want %v %v->%v %d bytes",
				i, rec.Time, u.Src, u.Dst, len(u.Payload), u.ChecksumOK, d.t, d.src, d.dst, len(d.payload))
		}
	}
	if _, err := r.Next(); err != io.EOF {
		t.Errorf("after the last record: %v, want io.EOF", err)
	}
}

// TestChecksum checks the UDP checksum against a packet worked by hand
// (RFC 768 over the IPv4 pseudo-header), and that a flipped bit is caught.
func TestChecksum(t *testing.T) {
	data := write(t, []datagram{{time.Unix(0, 0), netip.MustParseAddrPort("192.0.2.1:1234"),
		netip.MustParseAddrPort("239.0.0.1:5678"), []byte("abc")}})
	rec := data[24+16:]
	// pseudo-header: c000 0201 ef00 0001 0011 000b; UDP: 04d2 162e 000b;
	// data 6162 6300. Sum 0x2908b, folded 0x908d, complemented 0x6f72.
	if got := binary.BigEndian.Uint16(rec[20+6:]); got != 0x6f72 {
		t.Errorf("UDP checksum %#04x, want 0x6f72", got)
	}
	if got := binary.BigEndian.Uint16(rec[10:]); got != ipv4Checksum(rec[:20]) {
		t.Errorf("IPv4 header checksum %#04x, want %#04x", got, ipv4Checksum(rec[:20]))
	}
	rec[len(rec)-1] ^= 1
	u, err := pcap.ParseUDP(rec)
	if err != nil || u.ChecksumOK {
		t.Errorf("a corrupted payload: %+v, %v; want a bad checksum", u, err)
	}
}

func ipv4Checksum(h []byte) uint16 {
	var sum uint32
	for i := 0; i < len(h); i += 2 {
		if i != 10 {
			sum += uint32(h[i])<<8 | uint32(h[i+1])
		}
	}
	for sum > 0xffff {
		sum = sum&0xffff + sum>>16
	}
	return ^uint16(sum)
}

func TestWriteErrors(t *testing.T) {
	w, err := pcap.NewWriter(io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	v4, v6 := netip.MustParseAddrPort("10.0.0.1:1"), netip.MustParseAddrPort("[ff02::1]:2")
	if err := w.WriteUDP(time.Now(), v4, v6, nil); !errors.Is(err, pcap.ErrAddress) {
		t.Errorf("mixed families: %v", err)
	}
	if err := w.WriteUDP(time.Now(), netip.AddrPort{}, v4, nil); !errors.Is(err, pcap.ErrAddress) {
		t.Errorf("no source: %v", err)
	}
	if err := w.WriteUDP(time.Now(), v4, v4, make([]byte, 65508)); !errors.Is(err, pcap.ErrTooLong) {
		t.Errorf("65,508 bytes over IPv4: %v", err)
	}
	if err := w.WriteUDP(time.Now(), v4, v4, make([]byte, 65507)); err != nil {
		t.Errorf("65,507 bytes over IPv4: %v", err)
	}
	if _, err := pcap.NewWriter(failWriter{}); err == nil {
		if w, _ := pcap.NewWriter(failWriter{}); w.Flush() == nil {
			t.Error("no error from a failing writer")
		}
	}
}

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

// TestReadErrors feeds the reader broken files.
func TestReadErrors(t *testing.T) {
	good := write(t, sample()[:2])
	for name, b := range map[string][]byte{
		"empty":          nil,
		"short header":   good[:10],
		"bad magic":      append([]byte{1, 2, 3, 4}, good[4:]...),
		"bad version":    append(append(append([]byte{}, good[:4]...), 9, 0), good[6:]...),
		"short record":   good[:24+8],
		"truncated data": good[:24+16+10],
	} {
		r, err := pcap.NewReader(bytes.NewReader(b))
		if err == nil {
			_, err = r.Next()
		}
		if !errors.Is(err, pcap.ErrFormat) {
			t.Errorf("%s: %v, want ErrFormat", name, err)
		}
	}
	huge := append([]byte{}, good[:24+16]...)
	binary.NativeEndian.PutUint32(huge[24+8:], 1<<30)
	binary.NativeEndian.PutUint32(huge[24+12:], 1<<30)
	r, err := pcap.NewReader(bytes.NewReader(huge))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Next(); !errors.Is(err, pcap.ErrFormat) {
		t.Errorf("a 1 GiB record: %v, want ErrFormat", err)
	}
	for name, p := range map[string][]byte{
		"empty": nil, "ipv5": {0x50}, "short v4": {0x45, 0}, "short v6": {0x60},
		"tcp": append([]byte{0x45, 0, 0, 28, 0, 0, 0, 0, 1, 6}, make([]byte, 18)...),
	} {
		if _, err := pcap.ParseUDP(p); !errors.Is(err, pcap.ErrFormat) {
			t.Errorf("ParseUDP(%s): %v, want ErrFormat", name, err)
		}
	}
}

// TestMicrosecondsBigEndian reads a big-endian microsecond file, as other
// tools write.
func TestMicrosecondsBigEndian(t *testing.T) {
	var b []byte
	be := binary.BigEndian
	b = be.AppendUint32(b, pcap.MagicMicroseconds)
	b = be.AppendUint16(b, 2)
	b = be.AppendUint16(b, 4)
	b = append(b, make([]byte, 8)...)
	b = be.AppendUint32(b, 65535)
	b = be.AppendUint32(b, pcap.LinkTypeRaw)
	b = be.AppendUint32(b, 100)
	b = be.AppendUint32(b, 250)
	b = be.AppendUint32(b, 1)
	b = be.AppendUint32(b, 1)
	b = append(b, 0x45)
	r, err := pcap.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	rec, err := r.Next()
	if err != nil {
		t.Fatal(err)
	}
	if h := r.Header(); h.Nanoseconds || h.ByteOrder != binary.BigEndian || !rec.Time.Equal(time.Unix(100, 250000)) || !bytes.Equal(rec.Data, []byte{0x45}) {
		t.Errorf("header %+v, record %+v", h, rec)
	}
}

// TestTshark has tshark (Wireshark's command-line reader) read a file the
// Writer wrote: the same number of packets, each with its addresses,
// ports, timestamp and payload, and no malformed or checksum complaint.
// tshark comes from Debian's tshark package (.ci/apt-packages); without it
// the test skips, and fails in CI.
func TestTshark(t *testing.T) {
	tshark := extest.RequireCommand(t, "tshark", "tshark")
	ds := sample()
	path := filepath.Join(t.TempDir(), "sample.pcap")
	if err := os.WriteFile(path, write(t, ds), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(tshark, "-n", "-r", path, "-o", "udp.check_checksum:TRUE", "-T", "fields", "-E", "separator=|",
		"-e", "frame.time_epoch", "-e", "ip.src", "-e", "ipv6.src", "-e", "udp.srcport", "-e", "ip.dst", "-e", "ipv6.dst", "-e", "udp.dstport",
		"-e", "udp.checksum.status", "-e", "udp.payload", "-e", "_ws.expert.message").Output()
	if err != nil {
		t.Fatalf("tshark: %v", err)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) != len(ds) {
		t.Fatalf("tshark read %d packets, want %d", len(lines), len(ds))
	}
	for i, line := range lines {
		f := strings.Split(line, "|")
		d := ds[i]
		src := f[1] + f[2] + ":" + f[3]
		dst := f[4] + f[5] + ":" + f[6]
		if src != d.src.Addr().String()+":"+strconv.Itoa(int(d.src.Port())) || dst != d.dst.Addr().String()+":"+strconv.Itoa(int(d.dst.Port())) {
			t.Errorf("packet %d: %s -> %s, want %s -> %s", i, src, dst, d.src, d.dst)
		}
		if want := fmt.Sprintf("%d.%09d", d.t.Unix(), d.t.Nanosecond()); f[0] != want {
			t.Errorf("packet %d: time %s, want %s", i, f[0], want)
		}
		if f[7] != "1" { // 1: good
			t.Errorf("packet %d: checksum status %q, want good (1)", i, f[7])
		}
		if got, want := f[8], hexString(d.payload); got != want {
			t.Errorf("packet %d: payload %.40s..., want %.40s...", i, got, want)
		}
		if f[9] != "" {
			t.Errorf("packet %d: tshark says %.200q", i, f[9])
		}
	}
}

func hexString(b []byte) string {
	const digits = "0123456789abcdef"
	out := make([]byte, 0, 2*len(b))
	for _, c := range b {
		out = append(out, digits[c>>4], digits[c&15])
	}
	return string(out)
}

func BenchmarkWriteUDP(b *testing.B) {
	w, err := pcap.NewWriter(io.Discard)
	if err != nil {
		b.Fatal(err)
	}
	src, dst := netip.MustParseAddrPort("10.0.0.1:4000"), netip.MustParseAddrPort("239.1.2.3:5000")
	p := make([]byte, 200)
	now := time.Now()
	b.SetBytes(int64(len(p)))
	b.ReportAllocs()
	for b.Loop() {
		if err := w.WriteUDP(now, src, dst, p); err != nil {
			b.Fatal(err)
		}
	}
}

func TestWriteUDPAllocs(t *testing.T) {
	w, err := pcap.NewWriter(io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	src, dst := netip.MustParseAddrPort("[fe80::1]:4000"), netip.MustParseAddrPort("[ff15::1]:5000")
	p := make([]byte, 200)
	now := time.Now()
	if n := testing.AllocsPerRun(1000, func() { _ = w.WriteUDP(now, src, dst, p) }); n != 0 {
		t.Errorf("WriteUDP allocates %v times, want 0", n)
	}
}

// IPPacket finds the IP packet behind each link-layer header that tcpdump
// and tshark write, and refuses what carries none.
func TestIPPacket(t *testing.T) {
	ip := []byte{0x45, 1, 2, 3}
	eth := append(make([]byte, 12), 0x08, 0x00)
	vlan := append(append(make([]byte, 12), 0x81, 0x00, 0, 5), 0x86, 0xdd)
	sll := append(make([]byte, 14), 0x08, 0x00)
	sll2 := append([]byte{0x08, 0x00}, make([]byte, 18)...)
	for _, tc := range []struct {
		link   uint32
		header []byte
		ok     bool
	}{
		{pcap.LinkTypeRaw, nil, true},
		{pcap.LinkTypeNull, []byte{2, 0, 0, 0}, true},
		{pcap.LinkTypeEthernet, eth, true},
		{pcap.LinkTypeEthernet, vlan, true},
		{pcap.LinkTypeLinuxSLL, sll, true},
		{pcap.LinkTypeLinuxSL2, sll2, true},
		{pcap.LinkTypeEthernet, append(make([]byte, 12), 0x08, 0x06), false}, // ARP
		{pcap.LinkTypeEthernet, make([]byte, 10), false},
		{pcap.LinkTypeEthernet, append(make([]byte, 12), 0x81, 0x00), false},
		{147, nil, false},
	} {
		data := append(append([]byte(nil), tc.header...), ip...)
		if tc.link == pcap.LinkTypeEthernet && len(tc.header) < 14 {
			data = tc.header
		}
		got, err := pcap.IPPacket(tc.link, data)
		switch {
		case tc.ok && (err != nil || !bytes.Equal(got, ip)):
			t.Errorf("link %d, header %x: %x, %v; want the IP packet", tc.link, tc.header, got, err)
		case !tc.ok && !errors.Is(err, pcap.ErrFormat):
			t.Errorf("link %d, header %x: %x, %v; want ErrFormat", tc.link, tc.header, got, err)
		}
	}
}
