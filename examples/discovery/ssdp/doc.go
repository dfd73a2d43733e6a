// Package ssdp is a Simple Service Discovery Protocol agent (UPnP Device
// Architecture 2.0, section 1: "UDA 2.0" below) that shares port 1900
// with the host's other SSDP stacks (minissdpd, minidlna, a browser, a
// media player), and the protocol code under it: a parser and builders of
// NOTIFY, M-SEARCH and search responses, and a bounded table of devices.
//
// # Sharing 1900, and the trap
//
// An [Agent] opens one socket per family on port 1900 with package mcast,
// which asks to share the port, joins 239.255.255.250 and ff02::c on the
// chosen interfaces through package group, and reads through a
// dispatch.Server. Every socket on the port gets its own copy of each
// multicast NOTIFY, so the agent and minissdpd hear the same
// announcements.
//
// A search is different. An M-SEARCH is sent to the group, but its
// answers (HTTP/1.1 200 OK) come back by unicast to the address and port
// it was sent from (UDA 2.0 section 1.3.3). Sent from port 1900, they
// reach one socket on that port, the one the kernel picks (on Linux, the
// last one bound with SO_REUSEADDR), which is seldom the searcher's. So
// the Agent searches from a socket of its own, on a port the kernel
// chooses and that nobody shares ([Agent.Search]); its answers reach it
// and only it. Config.SearchFromSharedPort shows the trap; the tests show
// where the answers go then.
//
// # Messages
//
// [Parse] reads one datagram into a [Message] without allocating: the
// start line (NOTIFY, M-SEARCH or an HTTP/1.1 status line), and up to
// [MaxHeaders] headers of at most [MaxLine] bytes each, as views into the
// datagram. Anything else is an error that wraps [ErrMalformed] and says
// which rule was broken. [AppendSearch], [AppendNotify] and
// [AppendResponse] build messages.
//
// # The table
//
// A [Table] keeps the devices (by the UUID of their USNs) and, per
// device, the USNs announced (the device, its root, its device and
// service types), each with the expiry from its CACHE-CONTROL max-age.
// ssdp:alive and search responses add and refresh, ssdp:byebye removes a
// USN (the root device's byebye removes the device), ssdp:update changes
// a LOCATION, and a device is removed when the last of its USNs expires.
// Changes are reported as a [Change]: Added, Updated (the LOCATION moved,
// or the description was fetched) or Removed.
//
// # Descriptions
//
// When a device is added or its LOCATION changes, the Agent fetches the
// description document (HTTP GET) for its friendly name, manufacturer,
// model and services ([Description]), with a bounded number of workers,
// a bounded queue, a timeout that covers the whole answer and a size
// limit ([FetchConfig]). It follows no redirect and uses no proxy, and by
// default it fetches only a LOCATION whose host is the address the
// announcement came from.
//
// # Limits
//
// Anyone on the link can send to 239.255.255.250:1900, so everything
// the Agent keeps or does for a datagram is bounded and counted ([Stats],
// [TableStats]): malformed messages, by rule; at most
// [TableConfig].MaxDevices devices (256; a new one evicts the device heard
// from least recently) and MaxUSNs USNs a device (64; the same rule);
// max-age clamped to 24 hours; a byebye or update from another address
// than the USN's announcement ignored; descriptions bounded as above,
// and a full fetch queue drops and counts.
//
// What it cannot prevent: SSDP has no authentication; an announcement
// that agrees with itself (a UUID, a LOCATION on the sender's own
// address) is taken as real.
package ssdp
