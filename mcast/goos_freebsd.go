package mcast

// bsdGOOS names this OS for sockopt_bsd.go, which serves all four BSDs
// (darwin, freebsd, netbsd, openbsd) under one build constraint and so
// cannot name the OS itself: an error for an option the OS lacks names it
// (STYLE 2), and the file's _freebsd suffix alone picks the value.
const bsdGOOS = "freebsd"
