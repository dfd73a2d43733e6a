// Package wire encodes and decodes the sharecast test header: the small
// fixed header that `sharecast send` (and the benchmarks) put at the start
// of every test datagram, so that a receiver can tell streams apart and
// measure loss, gaps, duplicates, reordering and latency.
//
// # Format
//
// The header is 32 bytes, all numbers big-endian (network byte order):
//
//	offset  size  field
//	0       4     magic: the ASCII bytes "SCST" (0x53 0x43 0x53 0x54)
//	4       2     version: 1
//	6       2     header length in bytes: 32 for version 1
//	8       8     stream id: chosen at random by each sender run
//	16      8     sequence number: 0 for the stream's first datagram, then +1
//	24      8     send time: nanoseconds since the Unix epoch (int64)
//	32      ...   payload (sharecast send fills it as [Fill] says)
//
// A decoder accepts a header whose length field is 32 or more (and no more
// than the datagram), so that a later version may append fields that
// version-1 readers skip. Latency is receive time minus send time, so it is
// meaningful when sender and receiver share a clock (one host, or hosts
// synchronised by PTP).
//
// # Use
//
// [Header.Put] writes a header into a buffer and [Decode] reads one back;
// neither allocates. [Fill] writes the filler that sharecast send puts after
// the header and [CheckFill] verifies it, so that a receiver can check
// every byte of a datagram without a copy of what was sent.
package wire
