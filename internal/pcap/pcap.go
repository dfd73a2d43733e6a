package pcap

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"time"
)

// File header constants.
const (
	// MagicNanoseconds is the magic number of files with nanosecond
	// timestamps, which Writer writes; MagicMicroseconds that of the
	// original microsecond format, which Reader also reads.
	MagicNanoseconds  = 0xa1b23c4d
	MagicMicroseconds = 0xa1b2c3d4

	// LinkTypeRaw is LINKTYPE_RAW: records are raw IPv4 or IPv6 packets.
	LinkTypeRaw = 101

	// DefaultSnapLen is the snapshot length that Writer declares: every
	// UDP datagram fits whole.
	DefaultSnapLen = 262144

	fileHeaderLen   = 24
	recordHeaderLen = 16
	ipv4HeaderLen   = 20
	ipv6HeaderLen   = 40
	udpHeaderLen    = 8
)

var (
	// ErrFormat reports a malformed file or record.
	ErrFormat = errors.New("pcap: malformed")

	// ErrTooLong reports a datagram too long for its IP header's length
	// field (IPv4: 65,507 bytes of payload).
	ErrTooLong = errors.New("pcap: datagram too long")

	// ErrAddress reports addresses that a record cannot hold: an invalid
	// one, or a source and destination of different families.
	ErrAddress = errors.New("pcap: bad addresses")
)

// Writer writes a pcap file of UDP datagrams. It is not safe for
// concurrent use.
type Writer struct {
	w   *bufio.Writer
	hdr [recordHeaderLen + ipv6HeaderLen + udpHeaderLen]byte
	id  uint16
	n   uint64
}

// NewWriter writes the file header to w and returns a Writer that appends
// records to it, through a buffer: call Flush (or Close) at the end.
func NewWriter(w io.Writer) (*Writer, error) {
	pw := &Writer{w: bufio.NewWriterSize(w, 256<<10)}
	var h [fileHeaderLen]byte
	bo := binary.NativeEndian
	bo.PutUint32(h[0:], MagicNanoseconds)
	bo.PutUint16(h[4:], 2)
	bo.PutUint16(h[6:], 4)
	// thiszone and sigfigs: 0
	bo.PutUint32(h[16:], DefaultSnapLen)
	bo.PutUint32(h[20:], LinkTypeRaw)
	if _, err := pw.w.Write(h[:]); err != nil {
		return nil, fmt.Errorf("pcap: %w", err)
	}
	return pw, nil
}

// WriteUDP appends a record: a UDP datagram with payload from src to dst,
// received at t, behind synthesized IP and UDP headers (see the package
// doc). It allocates nothing.
func (pw *Writer) WriteUDP(t time.Time, src, dst netip.AddrPort, payload []byte) error {
	sa, da := src.Addr().Unmap(), dst.Addr().Unmap()
	if !sa.IsValid() || !da.IsValid() || sa.Is4() != da.Is4() {
		return fmt.Errorf("%w: %s to %s", ErrAddress, src, dst)
	}
	udpLen := udpHeaderLen + len(payload)
	ipLen := ipv6HeaderLen
	if sa.Is4() {
		ipLen = ipv4HeaderLen
	}
	if udpLen > 0xffff || (sa.Is4() && ipLen+udpLen > 0xffff) {
		return fmt.Errorf("%w: %d bytes", ErrTooLong, len(payload))
	}
	total := ipLen + udpLen
	h := pw.hdr[:recordHeaderLen+ipLen+udpHeaderLen]
	bo := binary.NativeEndian
	ns := t.UnixNano()
	bo.PutUint32(h[0:], uint32(ns/1e9))
	bo.PutUint32(h[4:], uint32(ns%1e9))
	bo.PutUint32(h[8:], uint32(total))
	bo.PutUint32(h[12:], uint32(total))

	ip := h[recordHeaderLen:]
	be := binary.BigEndian
	var sum uint32 // UDP checksum over the pseudo-header
	if sa.Is4() {
		s4, d4 := sa.As4(), da.As4()
		ip[0] = 0x45
		ip[1] = 0
		be.PutUint16(ip[2:], uint16(total))
		be.PutUint16(ip[4:], pw.id)
		pw.id++
		be.PutUint16(ip[6:], 0x4000) // don't fragment
		ip[8] = 1                    // TTL
		ip[9] = 17                   // UDP
		ip[10], ip[11] = 0, 0
		copy(ip[12:16], s4[:])
		copy(ip[16:20], d4[:])
		be.PutUint16(ip[10:], ^fold(sumBytes(0, ip[:ipv4HeaderLen])))
		sum = sumBytes(sumBytes(0, s4[:]), d4[:])
	} else {
		s16, d16 := sa.As16(), da.As16()
		be.PutUint32(ip[0:], 6<<28)
		be.PutUint16(ip[4:], uint16(udpLen))
		ip[6] = 17 // next header: UDP
		ip[7] = 1  // hop limit
		copy(ip[8:24], s16[:])
		copy(ip[24:40], d16[:])
		sum = sumBytes(sumBytes(0, s16[:]), d16[:])
	}
	sum += 17 + uint32(udpLen)
	udp := ip[ipLen:]
	be.PutUint16(udp[0:], src.Port())
	be.PutUint16(udp[2:], dst.Port())
	be.PutUint16(udp[4:], uint16(udpLen))
	udp[6], udp[7] = 0, 0
	sum = sumBytes(sumBytes(sum, udp[:udpHeaderLen]), payload)
	ck := ^fold(sum)
	if ck == 0 {
		ck = 0xffff // RFC 768: a computed 0 is sent as all ones
	}
	be.PutUint16(udp[6:], ck)

	if _, err := pw.w.Write(h); err != nil {
		return fmt.Errorf("pcap: %w", err)
	}
	if _, err := pw.w.Write(payload); err != nil {
		return fmt.Errorf("pcap: %w", err)
	}
	pw.n++
	return nil
}

// Records returns the number of records written.
func (pw *Writer) Records() uint64 { return pw.n }

// Flush writes what is buffered to the underlying writer.
func (pw *Writer) Flush() error {
	if err := pw.w.Flush(); err != nil {
		return fmt.Errorf("pcap: %w", err)
	}
	return nil
}

// sumBytes adds b to the one's-complement sum, as 16-bit big-endian words
// (a trailing odd byte padded with zero). Callers add byte runs of even
// length except the last.
func sumBytes(sum uint32, b []byte) uint32 {
	for len(b) >= 2 {
		sum += uint32(b[0])<<8 | uint32(b[1])
		b = b[2:]
		if sum >= 1<<31 {
			sum = sum&0xffff + sum>>16
		}
	}
	if len(b) == 1 {
		sum += uint32(b[0]) << 8
	}
	return sum
}

func fold(sum uint32) uint16 {
	for sum > 0xffff {
		sum = sum&0xffff + sum>>16
	}
	return uint16(sum)
}

// Header is a file's header.
type Header struct {
	// Nanoseconds reports nanosecond timestamps (else microseconds).
	Nanoseconds bool
	// ByteOrder is the byte order the file was written in.
	ByteOrder binary.ByteOrder
	// SnapLen is the longest record the file declares.
	SnapLen uint32
	// LinkType is the link-layer header type (LinkTypeRaw for Writer's).
	LinkType uint32
}

// Record is one record of a file.
type Record struct {
	// Time is the timestamp.
	Time time.Time
	// OrigLen is the packet's length on the wire; Data may be shorter, cut
	// at the snapshot length.
	OrigLen int
	// Data is the captured bytes. It is valid until the next call of Next.
	Data []byte
}

// Reader reads a pcap file. It is not safe for concurrent use.
type Reader struct {
	r   io.Reader
	h   Header
	buf []byte
	rec [recordHeaderLen]byte
}

// NewReader reads the file header from r.
func NewReader(r io.Reader) (*Reader, error) {
	var h [fileHeaderLen]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return nil, fmt.Errorf("%w: file header: %w", ErrFormat, err)
	}
	pr := &Reader{r: r}
	pr.h.ByteOrder, pr.h.Nanoseconds = magic(h[:4])
	bo := pr.h.ByteOrder
	if bo == nil {
		return nil, fmt.Errorf("%w: magic %#x", ErrFormat, binary.LittleEndian.Uint32(h[0:]))
	}
	if major := bo.Uint16(h[4:]); major != 2 {
		return nil, fmt.Errorf("%w: version %d", ErrFormat, major)
	}
	pr.h.SnapLen = bo.Uint32(h[16:])
	pr.h.LinkType = bo.Uint32(h[20:]) & 0x0fffffff // the top bits may carry FCS flags
	return pr, nil
}

// magic returns the byte order and resolution that a file's magic number
// says, or a nil byte order for none.
func magic(b []byte) (binary.ByteOrder, bool) {
	for _, bo := range []binary.ByteOrder{binary.LittleEndian, binary.BigEndian} {
		switch bo.Uint32(b) {
		case MagicNanoseconds:
			return bo, true
		case MagicMicroseconds:
			return bo, false
		}
	}
	return nil, false
}

// Header returns the file's header.
func (pr *Reader) Header() Header { return pr.h }

// maxRecord bounds a record's length whatever the file declares, so that a
// corrupt length cannot make Next allocate gigabytes.
const maxRecord = 1 << 20

// Next reads the next record. It returns io.EOF at the end of the file,
// and an error wrapping ErrFormat for a malformed or truncated record.
func (pr *Reader) Next() (Record, error) {
	if _, err := io.ReadFull(pr.r, pr.rec[:]); err != nil {
		if err == io.EOF {
			return Record{}, io.EOF
		}
		return Record{}, fmt.Errorf("%w: record header: %w", ErrFormat, err)
	}
	bo := pr.h.ByteOrder
	sec, frac := bo.Uint32(pr.rec[0:]), bo.Uint32(pr.rec[4:])
	incl, orig := bo.Uint32(pr.rec[8:]), bo.Uint32(pr.rec[12:])
	if incl > maxRecord || incl > orig {
		return Record{}, fmt.Errorf("%w: record of %d bytes (%d on the wire)", ErrFormat, incl, orig)
	}
	if cap(pr.buf) < int(incl) {
		pr.buf = make([]byte, incl)
	}
	data := pr.buf[:incl]
	if _, err := io.ReadFull(pr.r, data); err != nil {
		return Record{}, fmt.Errorf("%w: record data: %w", ErrFormat, err)
	}
	ns := int64(frac)
	if !pr.h.Nanoseconds {
		ns *= 1000
	}
	return Record{Time: time.Unix(int64(sec), ns), OrigLen: int(orig), Data: data}, nil
}

// UDP is a UDP datagram taken from a LINKTYPE_RAW record.
type UDP struct {
	Src, Dst netip.AddrPort
	// Payload aliases the record's data.
	Payload []byte
	// ChecksumOK reports whether the UDP checksum is right (or absent, 0,
	// which IPv4 allows).
	ChecksumOK bool
}

// ParseUDP takes a LINKTYPE_RAW record apart: an IPv4 (with or without
// options) or IPv6 (without extension headers) packet that carries a
// whole UDP datagram. It returns an error wrapping ErrFormat for anything
// else, and never panics.
func ParseUDP(data []byte) (UDP, error) {
	var u UDP
	if len(data) < 1 {
		return u, fmt.Errorf("%w: empty packet", ErrFormat)
	}
	be := binary.BigEndian
	var src, dst netip.Addr
	var l4 []byte
	var sum uint32
	switch data[0] >> 4 {
	case 4:
		if len(data) < ipv4HeaderLen {
			return u, fmt.Errorf("%w: short IPv4 header", ErrFormat)
		}
		ihl := int(data[0]&0x0f) * 4
		total := int(be.Uint16(data[2:]))
		if ihl < ipv4HeaderLen || total < ihl || total > len(data) {
			return u, fmt.Errorf("%w: IPv4 lengths %d/%d of %d", ErrFormat, ihl, total, len(data))
		}
		if data[9] != 17 {
			return u, fmt.Errorf("%w: IPv4 protocol %d, not UDP", ErrFormat, data[9])
		}
		if be.Uint16(data[6:])&0x3fff != 0 {
			return u, fmt.Errorf("%w: IPv4 fragment", ErrFormat)
		}
		src = netip.AddrFrom4([4]byte(data[12:16]))
		dst = netip.AddrFrom4([4]byte(data[16:20]))
		l4 = data[ihl:total]
		sum = sumBytes(0, data[12:20])
	case 6:
		if len(data) < ipv6HeaderLen {
			return u, fmt.Errorf("%w: short IPv6 header", ErrFormat)
		}
		plen := int(be.Uint16(data[4:]))
		if ipv6HeaderLen+plen > len(data) {
			return u, fmt.Errorf("%w: IPv6 payload length %d of %d", ErrFormat, plen, len(data)-ipv6HeaderLen)
		}
		if data[6] != 17 {
			return u, fmt.Errorf("%w: IPv6 next header %d, not UDP", ErrFormat, data[6])
		}
		src = netip.AddrFrom16([16]byte(data[8:24]))
		dst = netip.AddrFrom16([16]byte(data[24:40]))
		l4 = data[ipv6HeaderLen : ipv6HeaderLen+plen]
		sum = sumBytes(0, data[8:40])
	default:
		return u, fmt.Errorf("%w: IP version %d", ErrFormat, data[0]>>4)
	}
	if len(l4) < udpHeaderLen {
		return u, fmt.Errorf("%w: short UDP header", ErrFormat)
	}
	ulen := int(be.Uint16(l4[4:]))
	if ulen < udpHeaderLen || ulen > len(l4) {
		return u, fmt.Errorf("%w: UDP length %d of %d", ErrFormat, ulen, len(l4))
	}
	u.Src = netip.AddrPortFrom(src, be.Uint16(l4[0:]))
	u.Dst = netip.AddrPortFrom(dst, be.Uint16(l4[2:]))
	u.Payload = l4[udpHeaderLen:ulen]
	ck := be.Uint16(l4[6:])
	u.ChecksumOK = (ck == 0 && src.Is4()) || fold(sumBytes(sum+17+uint32(ulen), l4[:ulen])) == 0xffff
	return u, nil
}

// Link-layer header types whose records IPPacket takes apart, from the
// tcpdump.org list of link types.
const (
	LinkTypeNull     = 0   // BSD loopback: a 4-byte address family in the host's byte order
	LinkTypeEthernet = 1   // Ethernet II, with 802.1Q and 802.1ad tags
	LinkTypeLinuxSLL = 113 // Linux "cooked" capture, version 1 (16 bytes)
	LinkTypeLinuxSL2 = 276 // Linux "cooked" capture, version 2 (20 bytes)
)

// IPPacket returns the IP packet that a record of the given link type
// carries, as ParseUDP takes it: the record's data past its link-layer
// header (aliasing data). tcpdump and tshark write Ethernet on most
// interfaces (also on Linux's lo), cooked captures on "any", and the
// writer of this package LINKTYPE_RAW. A record that carries no IP packet,
// or a link type that it does not know, returns an error wrapping
// ErrFormat.
func IPPacket(linkType uint32, data []byte) ([]byte, error) {
	var off, etherType int
	be := binary.BigEndian
	switch linkType {
	case LinkTypeRaw:
		return data, nil
	case LinkTypeNull:
		off = 4
	case LinkTypeEthernet:
		off = 14
		if len(data) < off {
			return nil, fmt.Errorf("%w: short Ethernet header", ErrFormat)
		}
		etherType = int(be.Uint16(data[12:]))
		for etherType == 0x8100 || etherType == 0x88a8 { // VLAN tags
			if len(data) < off+4 {
				return nil, fmt.Errorf("%w: short VLAN tag", ErrFormat)
			}
			etherType = int(be.Uint16(data[off+2:]))
			off += 4
		}
	case LinkTypeLinuxSLL:
		off = 16
		if len(data) >= off {
			etherType = int(be.Uint16(data[14:]))
		}
	case LinkTypeLinuxSL2:
		off = 20
		if len(data) >= off {
			etherType = int(be.Uint16(data[0:]))
		}
	default:
		return nil, fmt.Errorf("%w: link type %d (want raw IP, Ethernet, BSD loopback or Linux cooked)", ErrFormat, linkType)
	}
	if len(data) < off {
		return nil, fmt.Errorf("%w: record shorter than its link-layer header", ErrFormat)
	}
	if etherType != 0 && etherType != 0x0800 && etherType != 0x86dd {
		return nil, fmt.Errorf("%w: EtherType %#04x, not IP", ErrFormat, etherType)
	}
	return data[off:], nil
}
