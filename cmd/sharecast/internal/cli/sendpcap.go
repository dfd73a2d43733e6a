package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"golang.org/x/net/ipv4"

	"github.com/sharecast/sharecast/internal/pcap"
)

// sendPcap sends the UDP payload of each record of the capture file name,
// in order, to the group: at the pace recorded (rate < 0: record i goes at
// start + its time - the first record's time), at rate a second, or as fast
// as the socket takes them (rate 0). It stops after count datagrams (0: no
// limit), at the end of the file, or when ctx ends. Records that carry no
// UDP over IP (ARP, TCP, fragments) are skipped and counted.
func (s *sender) sendPcap(ctx context.Context, name string, rate float64, count uint64) (sent, bytes, skipped uint64, first, last time.Time, retries uint64, err error) {
	f, err := os.Open(name)
	if err != nil {
		return 0, 0, 0, first, last, 0, &usageError{fmt.Errorf("--pcap: %w", err)}
	}
	defer f.Close()
	pr, err := pcap.NewReader(f)
	if err != nil {
		return 0, 0, 0, first, last, 0, &usageError{fmt.Errorf("--pcap %s: %w", name, err)}
	}
	link := pr.Header().LinkType
	var c clock = realClock{}
	var start, t0 time.Time
	ms := make([]ipv4.Message, 1)
	ms[0].Addr = s.dst
	for count == 0 || sent < count {
		if ctx.Err() != nil {
			return sent, bytes, skipped, first, last, retries, ctx.Err()
		}
		rec, err := pr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return sent, bytes, skipped, first, last, retries, fmt.Errorf("--pcap %s: record %d: %w", name, sent+skipped+1, err)
		}
		ip, err := pcap.IPPacket(link, rec.Data)
		var u pcap.UDP
		if err == nil {
			u, err = pcap.ParseUDP(ip)
		}
		if err != nil {
			skipped++
			continue
		}
		// When this datagram is due.
		switch {
		case sent == 0:
			start, t0 = c.Now(), rec.Time
		case rate < 0:
			c.Sleep(ctx, start.Add(rec.Time.Sub(t0)).Sub(c.Now()))
		case rate > 0:
			c.Sleep(ctx, schedule{start: start, rate: rate}.at(sent).Sub(c.Now()))
		}
		if ctx.Err() != nil {
			return sent, bytes, skipped, first, last, retries, ctx.Err()
		}
		ms[0].Buffers = [][]byte{u.Payload}
		at := c.Now()
		for {
			_, err := s.writeBatch(ms)
			if err == nil {
				break
			}
			if !transient(err) || ctx.Err() != nil {
				return sent, bytes, skipped, first, last, retries, fmt.Errorf("send to %s on %s: %w", s.dst, s.ifi.Name, err)
			}
			retries++
			time.Sleep(100 * time.Microsecond) // the queue drains in microseconds
		}
		if sent == 0 {
			first = at
		}
		last = at
		sent++
		bytes += uint64(len(u.Payload))
	}
	return sent, bytes, skipped, first, last, retries, nil
}
