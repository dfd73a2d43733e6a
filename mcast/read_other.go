//go:build !linux && !windows

package mcast

import (
	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
)

// DefaultBatchSize is the batch size when Config.BatchSize is 0. Outside
// Linux there is no batch read: one datagram a call.
const DefaultBatchSize = 1

// MaxBatchSize caps Config.BatchSize.
const MaxBatchSize = 1

// reader is the read state of a Conn outside Linux and Windows, where
// x/net reads one datagram a call: whether the socket has said that the OS
// reports no destination address.
type reader struct{ noDstLogged bool }

// initReader asks x/net for the destination address and interface of each
// datagram. Where the OS cannot say, the destination check is skipped.
func (c *Conn) initReader() error {
	var err error
	if c.ipv6 {
		err = c.p6.SetControlMessage(ipv6.FlagDst|ipv6.FlagInterface, true)
	} else {
		err = c.p4.SetControlMessage(ipv4.FlagDst|ipv4.FlagInterface, true)
	}
	if err != nil {
		c.log.Debug().Err(err).Msg("no destination control messages on this OS")
	}
	// The TTL (hop limit) is best effort: Datagram.TTL is -1 without it.
	if c.ipv6 {
		err = c.p6.SetControlMessage(ipv6.FlagHopLimit, true)
	} else {
		err = c.p4.SetControlMessage(ipv4.FlagTTL, true)
	}
	if err != nil {
		c.log.Debug().Err(err).Msg("no TTL control messages on this OS")
	}
	return nil
}

// ReadSlack is how many bytes ReadBatch keeps spare at the end of each
// buffer, so that a buffer of capacity size+ReadSlack holds datagrams of up
// to size bytes: x/net reports no MSG_TRUNC here, so a read that fills the
// whole buffer is taken as cut short. NewBatch adds the byte, and so does
// code that makes its own buffers (package dispatch).
const ReadSlack = 1

// readOS reads one datagram, through x/net. The first datagram that comes
// without a destination address is logged once: the destination check is
// then off for this socket (see the package doc's per-OS notes).
func (c *Conn) readOS(ds []Datagram) (int, error) {
	n, err := c.readXNet(ds)
	if n == 1 && !ds[0].Group.IsValid() && !c.rd.noDstLogged {
		c.rd.noDstLogged = true
		c.log.Warn().Msg("the OS reports no destination address: the destination check is off for this socket")
	}
	return n, err
}
