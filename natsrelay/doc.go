// Package natsrelay carries multicast datagrams beyond their network
// through NATS JetStream, and back: a [Publisher] is a dispatch.Handler
// that publishes each datagram it is given to a JetStream subject, and a
// [Source] is a dispatch.Source that reads such a subject, so that a host
// without multicast (another site, a cloud network, a container) serves
// the same handlers as it would from a socket.
//
// It is a module of its own (github.com/sharecast/sharecast/natsrelay), so
// that the library's users do not get the NATS client in their module
// graph unless they import it.
//
// # Messages
//
// Each datagram becomes one message: its payload, unchanged, and headers
// that carry what the relay's socket saw ([HeaderSource], [HeaderGroup],
// [HeaderPort], [HeaderInterface], [HeaderIfIndex], [HeaderTTL],
// [HeaderTime]: the kernel's receive time) and the relay's own numbering
// ([HeaderRelay], [HeaderSeq]), one number a datagram received, published
// or not. A message ID of relay name and number (Nats-Msg-Id) lets the
// server drop a retry of a message it has stored already, within the
// stream's duplicates window.
//
// # Publishing
//
// A Publisher copies each datagram into a bounded buffer
// (PublisherConfig.Buffer) and publishes asynchronously, at most
// MaxInFlight awaiting the server's acknowledgement. A publish that fails
// (no acknowledgement in AckTimeout, a disconnection, an error from the
// server) is retried after RetryWait, in order, newer datagrams waiting
// meanwhile (and nothing is published while the connection is down, so
// that the client's reconnection buffer does not send newer datagrams
// ahead of the retries), until RetryFor has passed since the datagram
// came; then it is given up. Order is kept but for a publish that times
// out while later ones succeed: the Source delivers it late, counted. A datagram that comes when the buffer is full is not
// published. Each case is counted ([PublisherStats]): once Close has
// returned, Received = Published + Lost, exactly. The buffer is what
// covers an outage of the server: with the server killed and started
// again on its store, or the leader of an R3 stream killed in a cluster,
// the relay loses nothing while the outage lasts less than Buffer
// datagrams (see the tests).
//
// [EnsureStream] finds the stream, or creates it bound to the subject with
// the limits of a [StreamConfig] (storage, retention, size, age,
// replicas), or returns [ErrNoStream] when NoCreate is set.
//
// # Consuming
//
// A Source reads through a durable pull consumer, so that a program
// started again resumes after the last message it read (each is
// acknowledged as it is read; one lost in a disconnection is redelivered). It follows each
// relay's numbering: gaps count as missing ([SourceStats].Missing, as
// kernel drops on a socket), a redelivered message is skipped, a late one
// delivered once. The payloads and the source, group, TTL and time of each
// datagram are those the relay saw, so a dispatch.SequenceTracker, stat's
// loss figures or a MoldUDP64 arbiter work on the far side as on the
// multicast segment. The destination port is SourceConfig.Port, which a
// dispatch.Server takes from the Source as from a socket.
//
// # Connections and credentials
//
// [Connect] takes a [ConnConfig]: URLs, user and password, token, nkey
// seed file, credentials file, TLS files, each passed to the NATS client
// as its own option. Credentials never appear in the package's logs or
// errors ([Redact]). The client reconnects for ever; what it could not
// send meanwhile the Publisher counts and retries.
//
// Package natstest runs real nats-server processes in the test bed's
// network namespaces, for this package's tests and the CLI's.
package natsrelay
