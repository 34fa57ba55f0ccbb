// Package libvirtsrc lists the host's libvirt domains with their CPU
// counters: it implements domain.Source with one bulk
// virConnectGetAllDomainStats call per Domains call. It is the only package
// of the project that uses cgo.
package libvirtsrc

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"sort"
	"time"

	"libvirt.org/go/libvirt"

	"github.com/virtwatt/virtwatt/hostagent/domain"
)

// Defaults for Options.
const (
	DefaultURI             = "qemu:///system"
	DefaultReconnectMin    = time.Second
	DefaultReconnectMax    = 30 * time.Second
	DefaultMetadataRefresh = 5 * time.Minute
)

// ErrClosed is returned by Domains after Close.
var ErrClosed = errors.New("libvirtsrc: source is closed")

// Options configure a Source. The zero value is usable.
type Options struct {
	// URI is the libvirt connection URI; default DefaultURI.
	URI string
	// MetadataNS is the namespace URI of the labels element in a domain's
	// <metadata>; default LabelsNamespace.
	MetadataNS string
	// MetadataRefresh is how often a known domain's labels are read again;
	// default DefaultMetadataRefresh. New domains are read when first seen.
	MetadataRefresh time.Duration
	// ReconnectMin and ReconnectMax bound the exponential backoff between
	// failed connection attempts; defaults DefaultReconnectMin and
	// DefaultReconnectMax.
	ReconnectMin, ReconnectMax time.Duration
	// Logger receives connection and label events; default slog.Default().
	Logger *slog.Logger
	// Now is the clock for backoff and label refresh; default time.Now.
	Now func() time.Time
}

// Source is a domain.Source backed by a libvirt connection. It connects on
// the first Domains call and reconnects by itself. It is safe for
// concurrent use; calls to libvirt are serialised.
type Source struct {
	opts Options
	log  *slog.Logger
	dial func(uri string) (*libvirt.Connect, error)

	// busy holds one token while a goroutine talks to libvirt; it guards
	// every field below.
	busy   chan struct{}
	cs     connState
	meta   map[string]*metaEntry
	closed bool
}

var _ domain.Source = (*Source)(nil)

// New validates opts and returns a Source. It does not connect: an
// unreachable libvirt is reported by Domains, not here, so that the agent
// can start before libvirtd does.
func New(opts Options) (*Source, error) {
	if opts.URI == "" {
		opts.URI = DefaultURI
	}
	if u, err := url.Parse(opts.URI); err != nil || u.Scheme == "" {
		return nil, fmt.Errorf("libvirt URI %q is not a URI such as %s or test:///default", opts.URI, DefaultURI)
	}
	if opts.MetadataNS == "" {
		opts.MetadataNS = LabelsNamespace
	}
	if u, err := url.Parse(opts.MetadataNS); err != nil || u.Scheme == "" {
		return nil, fmt.Errorf("labels metadata namespace %q is not an absolute URI such as %s", opts.MetadataNS, LabelsNamespace)
	}
	if opts.MetadataRefresh == 0 {
		opts.MetadataRefresh = DefaultMetadataRefresh
	}
	if opts.ReconnectMin == 0 {
		opts.ReconnectMin = DefaultReconnectMin
	}
	if opts.ReconnectMax == 0 {
		opts.ReconnectMax = max(DefaultReconnectMax, opts.ReconnectMin)
	}
	switch {
	case opts.MetadataRefresh < 0:
		return nil, fmt.Errorf("labels refresh interval %s is negative", opts.MetadataRefresh)
	case opts.ReconnectMin < 0:
		return nil, fmt.Errorf("reconnect minimum backoff %s is negative", opts.ReconnectMin)
	case opts.ReconnectMax < opts.ReconnectMin:
		return nil, fmt.Errorf("reconnect maximum backoff %s is below the minimum %s", opts.ReconnectMax, opts.ReconnectMin)
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Source{
		opts: opts,
		log:  opts.Logger.With("component", "libvirt"),
		dial: libvirt.NewConnect,
		busy: make(chan struct{}, 1),
		meta: make(map[string]*metaEntry),
	}, nil
}

// Domains lists every defined domain, running or not, sorted by name, with
// one bulk stats call. Drivers that report no CPU statistics (test:///)
// give zero times and no error. While libvirt is unreachable it returns an
// error naming the URI. It returns when ctx is done even if libvirt hangs:
// the call then finishes in the background and its result is dropped.
func (s *Source) Domains(ctx context.Context) ([]domain.Domain, error) {
	select {
	case s.busy <- struct{}{}:
	case <-ctx.Done():
		return nil, fmt.Errorf("libvirt %s: still busy with a previous call: %w", s.opts.URI, ctx.Err())
	}
	if err := ctx.Err(); err != nil {
		<-s.busy
		return nil, fmt.Errorf("libvirt %s: %w", s.opts.URI, err)
	}
	type result struct {
		doms []domain.Domain
		err  error
	}
	done := make(chan result, 1)
	go func() {
		defer func() { <-s.busy }()
		doms, err := s.poll()
		done <- result{doms, err}
	}()
	select {
	case r := <-done:
		return r.doms, r.err
	case <-ctx.Done():
		return nil, fmt.Errorf("libvirt %s: domain stats not back in time: %w", s.opts.URI, ctx.Err())
	}
}

// poll does one Domains call; the caller holds s.busy.
func (s *Source) poll() ([]domain.Domain, error) {
	if s.closed {
		return nil, ErrClosed
	}
	now := s.opts.Now()
	conn, err := s.ensureConn(now)
	if err != nil {
		return nil, err
	}
	// flags 0: active and inactive domains alike.
	stats, err := conn.GetAllDomainStats(nil, statsTypes, 0)
	if err != nil {
		err = fmt.Errorf("libvirt %s: get all domain stats: %w", s.opts.URI, err)
		if s.brokenAfter(err) {
			s.drop(now, err)
		}
		return nil, err
	}
	defer func() {
		for i := range stats {
			if ferr := stats[i].Domain.Free(); ferr != nil {
				s.log.Debug("free domain handle", "err", ferr)
			}
		}
	}()

	out := make([]domain.Domain, 0, len(stats))
	seen := make(map[string]struct{}, len(stats))
	for _, st := range stats {
		// Both are read from the client-side virDomain object: no RPC.
		uuid, err := st.Domain.GetUUIDString()
		if err != nil {
			s.log.Warn("domain without a readable UUID skipped", "uri", s.opts.URI, "err", err)
			continue
		}
		name, err := st.Domain.GetName()
		if err != nil {
			s.log.Warn("domain without a readable name skipped", "uri", s.opts.URI, "uuid", uuid, "err", err)
			continue
		}
		d := fromStats(uuid, name, st)
		d.Labels = s.labelsFor(st.Domain, uuid, name, now)
		seen[uuid] = struct{}{}
		out = append(out, d)
	}
	s.pruneMeta(seen)
	sort.Slice(out, func(i, j int) bool {
		if out[i].Name != out[j].Name {
			return out[i].Name < out[j].Name
		}
		return out[i].UUID < out[j].UUID
	})
	return out, nil
}

// Close closes the connection. It waits for a Domains call still talking
// to libvirt. Later Domains calls return ErrClosed.
func (s *Source) Close() error {
	s.busy <- struct{}{}
	defer func() { <-s.busy }()
	s.closed = true
	if s.cs.conn == nil {
		return nil
	}
	refs, err := s.cs.conn.Close()
	s.cs.conn = nil
	if refs > 0 {
		s.log.Warn("libvirt connection still referenced after close (leaked handles)", "uri", s.opts.URI, "refs", refs)
	}
	if err != nil {
		return fmt.Errorf("close libvirt %s: %w", s.opts.URI, err)
	}
	return nil
}
