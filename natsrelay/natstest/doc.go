// Package natstest runs real nats-server processes for tests, inside the
// network namespaces of package testbed (never in the host's): a server
// built from the version natsrelay's go.mod pins, started, killed and
// started again on its store, and NATS connections that dial from a test
// bed host. It works on Linux only, as the test bed does.
package natstest
