// Package pcap writes and reads classic pcap capture files of UDP
// datagrams, so that a receiver can record what it received in a file that
// tcpdump, tshark and Wireshark open.
//
// # Format
//
// The files are the classic libpcap format (not pcapng), with nanosecond
// timestamps (magic 0xa1b23c4d, version 2.4, written in the host's byte
// order as libpcap does; the reader takes either byte order and either
// resolution) and link type LINKTYPE_RAW (101): each record is an IP
// packet with no link-layer header, IPv4 or IPv6 by its first nibble.
//
// A socket hands its reader the UDP payload, the source and destination
// addresses and ports, and a receive time, but not the IP header. The
// writer therefore synthesizes one: an IPv4 header (20 bytes, no options,
// TTL 1, an identification that counts up, header checksum) or an IPv6
// header (40 bytes, hop limit 1), then the UDP header (8 bytes) with a
// correct checksum, then the payload byte for byte. Tools that check
// checksums find them right; the TTL and identification are not what was
// on the wire.
//
// # Writing
//
// [NewWriter] writes the file header; [Writer.WriteUDP] appends one
// datagram, allocating nothing; [Writer.Flush] and [Writer.Close] push out
// what is buffered. A Writer is not safe for concurrent use.
//
// # Reading
//
// [NewReader] reads the file header, [Reader.Next] one record at a time,
// and [ParseUDP] takes a LINKTYPE_RAW record apart into addresses and
// payload. They check every length, return errors wrapping [ErrFormat] for
// a malformed file, and never panic (there is a fuzz target).
//
// The format is described in "PCAP Capture File Format" (IETF
// draft-ietf-opsawg-pcap) and the tcpdump.org list of link types; the
// headers in RFC 791 (IPv4), RFC 8200 (IPv6) and RFC 768 (UDP).
package pcap
