package ssdp

import (
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"time"
)

// Errors of fetching a description.
var (
	// ErrLocationRefused: the LOCATION is not an http URL, or its host is
	// not the address the announcement came from (see
	// FetchConfig.AnyHost).
	ErrLocationRefused = errors.New("ssdp: location refused")
	// ErrDescriptionTooLarge: the description is longer than
	// FetchConfig.MaxBytes.
	ErrDescriptionTooLarge = errors.New("ssdp: description too large")
	// ErrFetchTimeout: the description did not come whole within
	// FetchConfig.Timeout (no connection, no answer, or too slow an one).
	ErrFetchTimeout = errors.New("ssdp: description fetch timed out")
)

// fetchError wraps err, an error of fetching loc, in ErrFetchTimeout if
// it is a timeout.
func fetchError(loc string, err error) error {
	if ne, ok := errors.AsType[net.Error](err); ok && ne.Timeout() {
		return fmt.Errorf("%w: %s: %w", ErrFetchTimeout, loc, err)
	}
	return fmt.Errorf("ssdp: description: %w", err)
}

// FetchConfig configures the fetching of device descriptions. The zero
// value means the defaults that each field documents.
type FetchConfig struct {
	// Disable turns fetching off.
	Disable bool
	// Timeout bounds one fetch, from the connection to the last byte of
	// the body: 5 s.
	Timeout time.Duration
	// MaxBytes is the longest description read: 64 KiB; a longer one is
	// an error (ErrDescriptionTooLarge), and no more of it is read.
	MaxBytes int64
	// Workers is the most fetches at a time: 4.
	Workers int
	// Queue is the most fetches waiting for a worker: 64; one more is
	// dropped and counted (Stats.FetchesDropped); the device's next
	// announcement of a new LOCATION asks again.
	Queue int
	// AnyHost lets a LOCATION name another host than the address its
	// announcement came from. By default such a LOCATION is not fetched
	// (ErrLocationRefused): anyone on the link can send an announcement,
	// and without this rule it could make the agent connect anywhere.
	AnyHost bool
}

func (c *FetchConfig) withDefaults() (FetchConfig, error) {
	d := *c
	if d.Timeout < 0 || d.MaxBytes < 0 || d.Workers < 0 || d.Queue < 0 {
		return d, fmt.Errorf("%w: negative value in %+v", ErrInvalidConfig, *c)
	}
	if d.Timeout == 0 {
		d.Timeout = 5 * time.Second
	}
	if d.MaxBytes == 0 {
		d.MaxBytes = 64 << 10
	}
	if d.Workers == 0 {
		d.Workers = 4
	}
	if d.Queue == 0 {
		d.Queue = 64
	}
	return d, nil
}

// Description is what a device's description document (UDA 2.0 section
// 2.3) says of it: its root device.
type Description struct {
	DeviceType   string   `json:"device_type"`
	FriendlyName string   `json:"friendly_name"`
	Manufacturer string   `json:"manufacturer,omitempty"`
	ModelName    string   `json:"model_name,omitempty"`
	ModelNumber  string   `json:"model_number,omitempty"`
	UDN          string   `json:"udn,omitempty"`
	Services     []string `json:"services,omitempty"`
}

// The most services of a description kept.
const maxServices = 64

type xmlRoot struct {
	Device struct {
		DeviceType   string `xml:"deviceType"`
		FriendlyName string `xml:"friendlyName"`
		Manufacturer string `xml:"manufacturer"`
		ModelName    string `xml:"modelName"`
		ModelNumber  string `xml:"modelNumber"`
		UDN          string `xml:"UDN"`
		Services     []struct {
			Type string `xml:"serviceType"`
		} `xml:"serviceList>service"`
	} `xml:"device"`
}

// ParseDescription parses a device description document.
func ParseDescription(b []byte) (*Description, error) {
	var r xmlRoot
	if err := xml.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("ssdp: description: %w", err)
	}
	d := &Description{DeviceType: r.Device.DeviceType, FriendlyName: r.Device.FriendlyName,
		Manufacturer: r.Device.Manufacturer, ModelName: r.Device.ModelName, ModelNumber: r.Device.ModelNumber, UDN: r.Device.UDN}
	for i, s := range r.Device.Services {
		if i == maxServices {
			break
		}
		d.Services = append(d.Services, s.Type)
	}
	return d, nil
}

// checkLocation refuses a LOCATION that is not http, or (unless anyHost)
// whose host is not src.
func checkLocation(loc string, src netip.Addr, anyHost bool) error {
	u, err := url.Parse(loc)
	if err != nil {
		return fmt.Errorf("%w: %q: %w", ErrLocationRefused, loc, err)
	}
	if u.Scheme != "http" {
		return fmt.Errorf("%w: %q: not http", ErrLocationRefused, loc)
	}
	if anyHost {
		return nil
	}
	h, err := netip.ParseAddr(u.Hostname())
	if err != nil || h.WithZone("").Unmap() != src.WithZone("").Unmap() {
		return fmt.Errorf("%w: %q: host is not the sender %s", ErrLocationRefused, loc, src)
	}
	return nil
}

// fetcher fetches descriptions with a bounded number of workers and a
// bounded queue.
type fetcher struct {
	cfg    FetchConfig
	client *http.Client
	queue  chan Fetch
	done   func(Fetch, *Description, error)
}

func newFetcher(cfg FetchConfig, done func(Fetch, *Description, error)) *fetcher {
	tr := &http.Transport{
		Proxy:                  nil, // a device on the link, never through a proxy
		DialContext:            (&net.Dialer{Timeout: cfg.Timeout}).DialContext,
		DisableKeepAlives:      true,
		MaxResponseHeaderBytes: 16 << 10,
		ResponseHeaderTimeout:  cfg.Timeout,
	}
	return &fetcher{
		cfg: cfg,
		client: &http.Client{Transport: tr, Timeout: cfg.Timeout,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }},
		queue: make(chan Fetch, cfg.Queue),
		done:  done,
	}
}

// enqueue queues f; it reports false if the queue is full.
func (f *fetcher) enqueue(x Fetch) bool {
	select {
	case f.queue <- x:
		return true
	default:
		return false
	}
}

// run runs the workers until ctx ends.
func (f *fetcher) run(ctx context.Context) {
	done := make(chan struct{})
	for range f.cfg.Workers {
		go func() {
			defer func() { done <- struct{}{} }()
			for {
				select {
				case <-ctx.Done():
					return
				case x := <-f.queue:
					d, err := f.fetch(ctx, x)
					f.done(x, d, err)
				}
			}
		}()
	}
	for range f.cfg.Workers {
		<-done
	}
}

func (f *fetcher) fetch(ctx context.Context, x Fetch) (*Description, error) {
	if err := checkLocation(x.Location, x.Source, f.cfg.AnyHost); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, f.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, x.Location, nil)
	if err != nil {
		return nil, fmt.Errorf("ssdp: description: %w", err)
	}
	resp, err := f.client.Do(req)
	if err != nil {
		return nil, fetchError(x.Location, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("ssdp: description: %s: %s", x.Location, resp.Status)
	}
	if resp.ContentLength > f.cfg.MaxBytes {
		return nil, fmt.Errorf("%w: %s says %d bytes, more than %d", ErrDescriptionTooLarge, x.Location, resp.ContentLength, f.cfg.MaxBytes)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, f.cfg.MaxBytes+1))
	if err != nil {
		return nil, fetchError(x.Location, err)
	}
	if int64(len(b)) > f.cfg.MaxBytes {
		return nil, fmt.Errorf("%w: %s: more than %d bytes", ErrDescriptionTooLarge, x.Location, f.cfg.MaxBytes)
	}
	return ParseDescription(b)
}
