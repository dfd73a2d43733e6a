// Package modcheck checks what a Go user gets who adopts the library: a new
// module that imports mcast, group and dispatch, after go mod tidy, has a
// small module graph and a go line no newer than the library needs. The CLI,
// the examples and the bench harness are modules of their own so that their
// dependencies (cobra, prometheus, gonum/plot, miekg/dns, ...) stay out of it.
package modcheck
