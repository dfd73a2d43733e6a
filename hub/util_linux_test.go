package hub_test

import (
	"net/netip"

	"github.com/sharecast/sharecast/dispatch"
	"github.com/sharecast/sharecast/mcast"
)

type mcastDatagram = mcast.Datagram

var netipZero netip.Addr

func toDispatch(d *mcast.Datagram, port uint16) dispatch.Datagram {
	return dispatch.Datagram{Payload: d.Payload, Source: d.Source, Group: d.Group, Port: port, IfIndex: d.IfIndex, TTL: d.TTL, Time: d.Time}
}
