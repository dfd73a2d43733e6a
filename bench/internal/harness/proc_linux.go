package harness

import (
	"time"

	"github.com/sharecast/sharecast/internal/procnet"
)

// portQueues reads /proc/net/udp of this namespace: how many sockets are
// bound to port, the bytes waiting in their receive queues, and their
// drops, summed.
func portQueues(port uint16) (sockets, queued int, drops uint64, err error) {
	ss, err := procnet.ReadUDP(procnet.IPv4)
	if err != nil {
		return 0, 0, 0, err
	}
	for _, s := range ss {
		if s.Local.Port() == port {
			sockets++
			queued += s.RxQueue
			drops += s.Drops
		}
	}
	return sockets, queued, drops, nil
}

// drain waits until the receive queues of port are empty, read twice in a
// row, or timeout passes; it reports whether they emptied.
func drain(port uint16, timeout time.Duration) (bool, error) {
	deadline := time.Now().Add(timeout)
	empty := 0
	for {
		_, q, _, err := portQueues(port)
		if err != nil {
			return false, err
		}
		if q == 0 {
			empty++
			if empty == 2 {
				return true, nil
			}
		} else {
			empty = 0
		}
		if time.Now().After(deadline) {
			return false, nil
		}
		time.Sleep(2 * time.Millisecond) // polling the kernel's state: there is nothing to wait on
	}
}
