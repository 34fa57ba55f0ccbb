package libvirtsrc

import (
	"errors"
	"fmt"
	"maps"
	"time"

	"libvirt.org/go/libvirt"
)

// metaEntry is the cached labels of one domain.
type metaEntry struct {
	labels   map[string]string
	fetched  time.Time
	failing  bool   // the last fetch failed (logged when it started)
	problems string // the label problems last logged, to log them again only when they change
}

// labelsFor returns the labels of dom, fetching its metadata (one RPC) only
// when uuid is new or its entry is older than the refresh interval. A fetch
// error keeps the previous labels and is retried at the next refresh.
// A failing fetch is logged when it starts failing and when it recovers,
// and label problems when they change: a misconfigured domain logs once,
// not at every refresh. The result is a copy the caller may keep.
func (s *Source) labelsFor(dom *libvirt.Domain, uuid, name string, now time.Time) map[string]string {
	e, ok := s.meta[uuid]
	if !ok || now.Sub(e.fetched) >= s.opts.MetadataRefresh {
		if e == nil {
			e = &metaEntry{}
			s.meta[uuid] = e
		}
		e.fetched = now
		labels, err := s.fetchLabels(dom, uuid, name, e)
		switch {
		case err != nil && !e.failing:
			s.log.Warn("cannot read domain labels; keeping the previous ones until a refresh succeeds", "uri", s.opts.URI,
				"domain", name, "uuid", uuid, "namespace", s.opts.MetadataNS, "err", err)
		case err == nil && e.failing:
			s.log.Info("domain labels readable again", "domain", name, "uuid", uuid)
		}
		e.failing = err != nil
		if err == nil {
			e.labels = labels
		}
	}
	return maps.Clone(e.labels)
}

// fetchLabels reads and parses the labels element of dom. A domain without
// the element has no labels.
func (s *Source) fetchLabels(dom *libvirt.Domain, uuid, name string, e *metaEntry) (map[string]string, error) {
	doc, err := dom.GetMetadata(libvirt.DOMAIN_METADATA_ELEMENT, s.opts.MetadataNS, libvirt.DOMAIN_AFFECT_CURRENT)
	if err != nil {
		if errors.Is(err, libvirt.ERR_NO_DOMAIN_METADATA) {
			return nil, nil
		}
		return nil, err
	}
	labels, problems, err := ParseLabels(doc, s.opts.MetadataNS)
	if sig := fmt.Sprint(problems); sig != e.problems {
		e.problems = sig
		for _, p := range problems {
			s.log.Warn("domain label dropped or changed", "domain", name, "uuid", uuid,
				"label", p.Name, "reason", p.Reason)
		}
	}
	return labels, err
}

// pruneMeta forgets domains not seen in the latest listing.
func (s *Source) pruneMeta(seen map[string]struct{}) {
	for uuid := range s.meta {
		if _, ok := seen[uuid]; !ok {
			delete(s.meta, uuid)
		}
	}
}
