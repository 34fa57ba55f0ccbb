package hostagent

import (
	"context"
	"log/slog"
	"slices"
	"time"

	"github.com/virtwatt/virtwatt/hostagent/domain"
	"github.com/virtwatt/virtwatt/hostagent/domxml"
	"github.com/virtwatt/virtwatt/hostagent/libvirtsrc"
	"github.com/virtwatt/virtwatt/hostagent/romount"
)

// roMountRefresh is how often every domain's definition is read again to
// find which ones export their share over virtiofs from ro_root (new
// domains are read when first listed).
const roMountRefresh = time.Minute

// roMountSource is the agent's domain source that also keeps the
// read-only bind mounts (package romount) of the domains whose share is
// virtiofs from <ro_root>/<name>, live or in the persistent definition, so
// that such a domain, defined while the agent runs or shut off when it
// started, can start at once. It reads definitions only for new domains
// and once a minute, never per tick.
type roMountSource struct {
	domain.Source
	xmls    func(ctx context.Context, names []string) (map[string][2]string, error)
	m       *romount.Manager
	log     *slog.Logger
	wanted  map[string]bool // by name: its share is virtiofs from m.Path(name)
	checked time.Time
	applied []string // the wanted set last reconciled
	lastErr string
}

// withROMounts wraps src when cfg has an ro_root (not for --once, which
// changes nothing on the host).
func withROMounts(cfg Config, src *libvirtsrc.Source, log *slog.Logger) domain.Source {
	if cfg.RORoot == "" || cfg.Once {
		return src
	}
	return &roMountSource{Source: src, xmls: src.DomainXMLs, m: romount.New(cfg.ShareRoot, cfg.RORoot, log),
		log: log, wanted: map[string]bool{}}
}

func (s *roMountSource) Domains(ctx context.Context) ([]domain.Domain, error) {
	doms, err := s.Source.Domains(ctx)
	if err == nil {
		s.update(ctx, doms, time.Now())
	}
	return doms, err
}

func (s *roMountSource) update(ctx context.Context, doms []domain.Domain, now time.Time) {
	listed := make(map[string]bool, len(doms))
	var ask []string
	refresh := now.Sub(s.checked) >= roMountRefresh
	for i := range doms {
		n := doms[i].Name
		listed[n] = true
		if _, known := s.wanted[n]; refresh || !known {
			ask = append(ask, n)
		}
	}
	for n := range s.wanted {
		if !listed[n] {
			delete(s.wanted, n)
		}
	}
	if len(ask) > 0 {
		xmls, err := s.xmls(ctx, ask)
		if err != nil {
			s.report("cannot read domain definitions for the read-only share mounts", err)
		}
		for n, pair := range xmls {
			s.wanted[n] = false
			for _, x := range pair {
				if sh, err := domxml.Find(x); err == nil && sh != nil && sh.Type == domxml.Virtiofs && sh.Source == s.m.Path(n) {
					s.wanted[n] = true
				}
			}
		}
		if refresh && err == nil {
			s.checked = now
		}
	}
	var want []string
	for n, w := range s.wanted {
		if w {
			want = append(want, n)
		}
	}
	slices.Sort(want)
	if !refresh && slices.Equal(want, s.applied) {
		return
	}
	if err := s.m.Reconcile(want); err != nil {
		s.report("read-only share mounts", err) // retried at the next refresh or change
		s.applied = want
		return
	}
	s.applied = want
	s.lastErr = ""
}

// report logs an error once until it changes.
func (s *roMountSource) report(what string, err error) {
	if err.Error() != s.lastErr {
		s.lastErr = err.Error()
		s.log.Warn(what, "err", err, "ro_root", s.m.RORoot)
	}
}
