package mcast

// Internals for the tests of package mcast_test.

// NewBatchSlack is NewBatch with slack spare bytes in each buffer.
var NewBatchSlack = newBatch

// ReadXNet reads one datagram through the read path of the OSes other
// than Linux.
func (c *Conn) ReadXNet(ds []Datagram) (int, error) { return c.readXNet(ds) }

// ListenErrorOn classifies a failed bind by goos's error numbers.
var ListenErrorOn = listenErrorOn
