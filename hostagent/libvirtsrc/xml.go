package libvirtsrc

import (
	"context"
	"fmt"

	"libvirt.org/go/libvirt"
)

// DomainXMLs returns the definitions of each named domain: the live one
// (the running VM's, or the persistent one of a shut-off VM) and the
// persistent one (what its next start uses), over the source's
// connection, one RPC per domain: callers ask for new domains and at a
// slow refresh, never per tick. A domain that vanished meanwhile is
// missing from the result; other failures are returned.
func (s *Source) DomainXMLs(ctx context.Context, names []string) (map[string][2]string, error) {
	select {
	case s.busy <- struct{}{}:
	case <-ctx.Done():
		return nil, fmt.Errorf("libvirt %s: still busy with a previous call: %w", s.opts.URI, ctx.Err())
	}
	defer func() { <-s.busy }()
	if s.closed {
		return nil, ErrClosed
	}
	conn, err := s.ensureConn(s.opts.Now())
	if err != nil {
		return nil, err
	}
	out := make(map[string][2]string, len(names))
	for _, name := range names {
		if ctx.Err() != nil {
			return out, ctx.Err()
		}
		dom, err := conn.LookupDomainByName(name)
		if err != nil {
			if lerr, ok := err.(libvirt.Error); ok && lerr.Code == libvirt.ERR_NO_DOMAIN {
				continue
			}
			return out, fmt.Errorf("libvirt %s: look up domain %s: %w", s.opts.URI, name, err)
		}
		live, err := dom.GetXMLDesc(0)
		var inactive string
		if err == nil {
			inactive, err = dom.GetXMLDesc(libvirt.DOMAIN_XML_INACTIVE)
		}
		dom.Free()
		if err != nil {
			return out, fmt.Errorf("libvirt %s: XML of domain %s: %w", s.opts.URI, name, err)
		}
		out[name] = [2]string{live, inactive}
	}
	return out, nil
}
