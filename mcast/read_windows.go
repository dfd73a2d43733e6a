package mcast

import (
	"unsafe"
)

// DefaultBatchSize is the batch size when Config.BatchSize is 0. Windows
// has no batch read: one datagram a call.
const DefaultBatchSize = 1

// MaxBatchSize caps Config.BatchSize.
const MaxBatchSize = 1

// reader is the read state of a Conn on Windows: the control-message
// buffer, allocated once.
type reader struct{ oob []byte }

// initReader allocates the control-message buffer. The socket asked for
// IP_PKTINFO or IPV6_PKTINFO when it was opened (the Windows option table),
// and x/net parses no control messages on Windows: readOS parses them.
func (c *Conn) initReader() error {
	c.rd.oob = make([]byte, winOOBSize)
	return nil
}

// ReadSlack is how many bytes ReadBatch keeps spare at the end of each
// buffer, so that a buffer of capacity size+ReadSlack holds datagrams of up
// to size bytes: Windows reports a datagram longer than the buffer as
// WSAEMSGSIZE, and the spare byte tells a datagram that fits from one that
// does not whatever the error says. NewBatch adds the byte, and so does
// code that makes its own buffers (package dispatch).
const ReadSlack = 1

// winWord is the pointer size, to which Windows aligns its control
// messages.
const winWord = int(unsafe.Sizeof(uintptr(0)))

// readOS reads one datagram with WSARecvMsg (through ReadMsgUDPAddrPort)
// and takes its destination and interface from IP_PKTINFO / IPV6_PKTINFO.
func (c *Conn) readOS(ds []Datagram) (int, error) {
	return c.readMsg(ds, c.rd.oob, parseWinPktInfo)
}

// parseWinPktInfo is parseWinControl for this build's pointer size.
// The result is returned by value so that nothing escapes.
func parseWinPktInfo(b []byte) (pktInfo, error) {
	var m pktInfo
	err := parseWinControl(b, winWord, &m)
	return m, err
}
