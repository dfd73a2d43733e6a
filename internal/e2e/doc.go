// Package e2e holds end-to-end tests that cross packages and hosts: several
// network namespaces joined by a bridge, each a host with receivers that
// share a port. It has no code of its own.
package e2e
