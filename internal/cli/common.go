package cli

import (
	"flag"
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/virtwatt/virtwatt/internal/webserver"
)

// Common points at the fields of an agent's config that hold the web and
// log settings, so that both agents bind them to the same flags and keys.
type Common struct {
	ListenAddress  *string
	WebConfigFile  *string
	MaxConnections *int
	LogLevel       *string
	LogFormat      *string
}

// Names of the common flags.
const (
	FlagListenAddress  = "web.listen-address"
	FlagWebConfigFile  = "web.config.file"
	FlagMaxConnections = "web.max-connections"
	FlagLogLevel       = "log.level"
	FlagLogFormat      = "log.format"
)

// Alias is a deprecated name (of a flag, or of a TOML key) and the name
// that replaces it.
type Alias struct{ Old, New string }

// FlagAliases are the deprecated flag names, kept for one release.
var FlagAliases = []Alias{
	{"listen", FlagListenAddress},
	{"web-config-file", FlagWebConfigFile},
	{"log-level", FlagLogLevel},
}

// KeyAliases are the deprecated TOML keys, kept for one release. (The old
// web_config_file and log_level keys are already the new flags' keys.)
var KeyAliases = []Alias{
	{"listen", Key(FlagListenAddress)},
}

// Key is the TOML key of a flag: its name with '.' and '-' replaced by '_'.
func Key(flagName string) string {
	return strings.NewReplacer(".", "_", "-", "_").Replace(flagName)
}

// Register binds the common flags to c's fields, with their current values
// as defaults, and the deprecated aliases, which note their use in w.
func (c Common) Register(fs *flag.FlagSet, w *Warnings) {
	fs.StringVar(c.ListenAddress, FlagListenAddress, *c.ListenAddress, "`address` of the metrics endpoint (host:port)")
	fs.StringVar(c.WebConfigFile, FlagWebConfigFile, *c.WebConfigFile, "exporter-toolkit web config `file` (TLS, basic auth) for the endpoint; optional")
	fs.IntVar(c.MaxConnections, FlagMaxConnections, *c.MaxConnections, "most connections the endpoint serves at once (lowered to keep file descriptors for measurement)")
	fs.StringVar(c.LogLevel, FlagLogLevel, *c.LogLevel, "log level: "+strings.Join(Levels, ", "))
	fs.StringVar(c.LogFormat, FlagLogFormat, *c.LogFormat, "log format: "+strings.Join(Formats, ", "))
	for _, a := range FlagAliases {
		target := fs.Lookup(a.New)
		fs.Var(&aliasValue{target: target.Value, use: func() {
			w.Add("flag --"+a.Old, fmt.Sprintf("flag --%s is deprecated and will be removed in the next release; use --%s", a.Old, a.New))
		}}, a.Old, "deprecated: use --"+a.New)
	}
}

// Validate adds a problem for each wrong common value.
func (c Common) Validate(p *Problems) {
	if *c.ListenAddress == "" {
		p.Add(FlagListenAddress, "must not be empty: give host:port, or :port for every address")
	}
	if n := *c.MaxConnections; n < 1 || n > webserver.MaxMaxConnections {
		p.Add(FlagMaxConnections, "%d is out of range (1 to %d)", n, webserver.MaxMaxConnections)
	}
	if _, err := ParseLevel(*c.LogLevel); err != nil {
		p.Add(FlagLogLevel, "%v", err)
	}
	if err := checkFormat(*c.LogFormat); err != nil {
		p.Add(FlagLogFormat, "%v", err)
	}
}

// aliasValue sets its target and notes that the deprecated name was used.
type aliasValue struct {
	target flag.Value
	use    func()
}

func (a *aliasValue) String() string {
	if a == nil || a.target == nil {
		return ""
	}
	return a.target.String()
}

func (a *aliasValue) Set(s string) error {
	a.use()
	return a.target.Set(s)
}

// Warnings collects deprecation warnings, one per alias however often it
// is used. The zero value is ready.
type Warnings struct {
	mu   sync.Mutex
	seen map[string]string
}

// Add records msg under id unless id was recorded already.
func (w *Warnings) Add(id, msg string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.seen == nil {
		w.seen = map[string]string{}
	}
	if _, ok := w.seen[id]; !ok {
		w.seen[id] = msg
	}
}

// List is every recorded warning, sorted (the file's "config ..." lines
// before the flags' "flag ..." ones).
func (w *Warnings) List() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := make([]string, 0, len(w.seen))
	for _, m := range w.seen {
		out = append(out, m)
	}
	sort.Strings(out)
	return out
}
