package natsrelay

import (
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/rs/zerolog"
)

// ConnConfig says how to reach a NATS server: the URL and the
// credentials and TLS settings, each passed to the NATS client as its own
// option. Credentials never appear in logs or errors: URLs are printed
// with their user information redacted ([Redact]).
type ConnConfig struct {
	// URL is the server's URL, or several separated by commas
	// (nats://host:4222, tls://host:4222). Required. User and password in
	// the URL are passed on, as the NATS client takes them.
	URL string

	// User and Password authenticate by user name and password.
	User, Password string
	// Token authenticates by token.
	Token string
	// NKeyFile is a file holding an nkey seed to authenticate with.
	NKeyFile string
	// CredsFile is a credentials file (a user JWT and its nkey seed).
	CredsFile string

	// TLSCA is a PEM file of the CAs to trust; TLSCert and TLSKey are the
	// client's certificate and key, for servers that verify clients.
	// Setting any of them requires TLS.
	TLSCA, TLSCert, TLSKey string

	// Name names the connection on the server (its monitoring pages);
	// empty means "sharecast".
	Name string

	// Timeout bounds the first connection; 0 means 5 s.
	Timeout time.Duration

	// ReconnectWait is the pause between reconnection attempts; 0 means
	// 250 ms. The client reconnects for ever, with the messages it is
	// given meanwhile in its reconnection buffer (8 MiB); a Publisher
	// counts and retries those that fail.
	ReconnectWait time.Duration

	// Dialer, if set, opens the connections to the server (the first and
	// every reconnection) in place of the client's own dialer: for
	// networks that need a proxy, or tests whose hosts are network
	// namespaces.
	Dialer nats.CustomDialer

	// Logger receives the connection's events (disconnected,
	// reconnected, asynchronous errors). The zero value logs nothing.
	Logger zerolog.Logger
}

// Connect connects to the server that cfg names. Its errors wrap the NATS
// client's (nats.ErrNoServers for an unreachable server,
// nats.ErrAuthorization for credentials it refused), and name the URL
// without its user information.
func Connect(cfg *ConnConfig) (*nats.Conn, error) {
	if cfg == nil || cfg.URL == "" {
		return nil, fmt.Errorf("natsrelay: connect: no URL: %w", ErrInvalidConfig)
	}
	opts, err := cfg.options()
	if err != nil {
		return nil, err
	}
	nc, err := nats.Connect(cfg.URL, opts...)
	if err != nil {
		return nil, fmt.Errorf("natsrelay: connect to %s: %w", Redact(cfg.URL), err)
	}
	return nc, nil
}

func (cfg *ConnConfig) options() ([]nats.Option, error) {
	log := cfg.Logger
	name := cfg.Name
	if name == "" {
		name = "sharecast"
	}
	timeout := cfg.Timeout
	if timeout == 0 {
		timeout = 5 * time.Second
	}
	wait := cfg.ReconnectWait
	if wait == 0 {
		wait = 250 * time.Millisecond
	}
	opts := []nats.Option{
		nats.Name(name),
		nats.Timeout(timeout),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(wait),
		nats.DisconnectErrHandler(func(nc *nats.Conn, err error) {
			if err == nil {
				return // closed by its owner
			}
			log.Warn().Err(err).Str("server", nc.ConnectedUrlRedacted()).Msg("nats: disconnected")
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			log.Info().Str("server", nc.ConnectedUrlRedacted()).Msg("nats: reconnected")
		}),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
			log.Warn().Err(err).Msg("nats: asynchronous error")
		}),
	}
	if cfg.Dialer != nil {
		opts = append(opts, nats.SetCustomDialer(cfg.Dialer))
	}
	if cfg.User != "" || cfg.Password != "" {
		opts = append(opts, nats.UserInfo(cfg.User, cfg.Password))
	}
	if cfg.Token != "" {
		opts = append(opts, nats.Token(cfg.Token))
	}
	if cfg.NKeyFile != "" {
		o, err := nats.NkeyOptionFromSeed(cfg.NKeyFile)
		if err != nil {
			return nil, fmt.Errorf("natsrelay: nkey file %s: %w", cfg.NKeyFile, err)
		}
		opts = append(opts, o)
	}
	if cfg.CredsFile != "" {
		opts = append(opts, nats.UserCredentials(cfg.CredsFile))
	}
	if cfg.TLSCA != "" {
		opts = append(opts, nats.RootCAs(cfg.TLSCA))
	}
	if cfg.TLSCert != "" || cfg.TLSKey != "" {
		opts = append(opts, nats.ClientCert(cfg.TLSCert, cfg.TLSKey))
	}
	return opts, nil
}

// Redact returns the URLs in s (one, or several separated by commas) with
// any password or token in them replaced by "xxxxx", for logs and errors.
func Redact(s string) string {
	parts := strings.Split(s, ",")
	for i, p := range parts {
		u, err := url.Parse(strings.TrimSpace(p))
		if err != nil || u.User == nil {
			if strings.Contains(p, "@") {
				parts[i] = "(unparsable URL)"
			}
			continue
		}
		u.User = url.User("xxxxx")
		parts[i] = u.String()
	}
	return strings.Join(parts, ",")
}
