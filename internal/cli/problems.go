package cli

import (
	"errors"
	"fmt"
	"strings"
)

// Problems collects every wrong value of a config, so that one run names
// them all.
type Problems struct{ errs []error }

// Add records a problem with the value of a key. name is a flag name
// ("web.listen-address", "pue") or, for a key no flag sets, a TOML key
// with an underscore or a slash ("idle/overhead"); the message names the
// TOML key and, for a flag, the flag:
//
//	config key web_listen_address (--web.listen-address): must not be empty
func (p *Problems) Add(name, format string, a ...any) {
	key := Key(name)
	where := "config key " + key
	if !strings.ContainsAny(name, "_/") {
		where += " (--" + name + ")"
	}
	p.errs = append(p.errs, fmt.Errorf("%s: %s", where, fmt.Sprintf(format, a...)))
}

// AddErr records a problem that already says what it is about.
func (p *Problems) AddErr(err error) {
	if err != nil {
		p.errs = append(p.errs, err)
	}
}

// Err joins every problem, or is nil.
func (p *Problems) Err() error { return errors.Join(p.errs...) }
