package mcast

// ReadMsgLinux reads one datagram through Windows' read path (readMsg),
// with Linux's control-message parser in place of Windows' (the seam: the
// kernel here lays out Linux's messages).
func (c *Conn) ReadMsgLinux(ds []Datagram) (int, error) {
	return c.readMsg(ds, make([]byte, oobSize), func(b []byte) (pktInfo, error) {
		var r rxMeta
		err := parseControl(b, &r)
		return pktInfo{r.dst, r.ifindex}, err
	})
}
