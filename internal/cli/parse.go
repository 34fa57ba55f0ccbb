package cli

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/BurntSushi/toml"
)

// Spec is one agent's command line.
type Spec[T any] struct {
	Name     string                       // flag set name: "virtwatt-host", "virtwatt-guest track"
	Example  string                       // the documented config file: "configs/host.toml"
	Defaults func() T                     // the config before the file and the flags
	Common   func(c *T) Common            // c's web and log fields
	Bind     func(fs *flag.FlagSet, c *T) // the agent's own flags
	Usage    func(fs *flag.FlagSet)       // -h; nil for none
	Output   io.Writer                    // where -h and flag errors go; nil: discarded
}

// Result is a parsed command line.
type Result[T any] struct {
	Config     T
	ConfigFile string   // the --config path, "" when none
	Args       []string // the arguments after the flags
	Warnings   []string // one per deprecated alias used, flag or key
}

// Parse builds the config from Defaults, then the TOML file named by
// --config, then the flags given (flags win). A parse error of the
// flags is returned as is (flag.ErrHelp for -h); the file's errors name
// the file and the key. It does not validate.
func (s Spec[T]) Parse(args []string) (Result[T], error) {
	var warn Warnings
	var res Result[T]
	out := s.Output
	if out == nil {
		out = io.Discard
	}
	cfg := s.Defaults()
	fs := s.flagSet(&cfg, &res.ConfigFile, &warn, out, s.Usage)
	if err := fs.Parse(args); err != nil {
		return res, err
	}
	if res.ConfigFile != "" {
		cfg = s.Defaults()
		var path string
		fs = s.flagSet(&cfg, &path, &warn, io.Discard, nil)
		if err := LoadTOML(res.ConfigFile, &cfg, fs, &warn); err != nil {
			return res, err
		}
		if err := fs.Parse(args); err != nil { // flags win
			return res, err
		}
	}
	res.Config, res.Args, res.Warnings = cfg, fs.Args(), warn.List()
	return res, nil
}

func (s Spec[T]) flagSet(c *T, path *string, w *Warnings, out io.Writer, usage func(*flag.FlagSet)) *flag.FlagSet {
	fs := flag.NewFlagSet(s.Name, flag.ContinueOnError)
	fs.SetOutput(out)
	fs.StringVar(path, "config", "", "TOML config `file` (keys as in "+s.Example+"; each key is its flag's name with '.' and '-' as '_'); flags win over it")
	s.Common(c).Register(fs, w)
	s.Bind(fs, c)
	fs.Bool("version", false, "print the version, revision, Go version and build date, and exit")
	if usage != nil {
		fs.Usage = func() { usage(fs) }
	} else {
		fs.Usage = func() {}
	}
	return fs
}

// LoadTOML decodes the TOML file at path over c. A deprecated key (see
// KeyAliases) is applied through the flag of its new name in fs and noted
// in w; an unknown key is an error naming the file, the key and, when
// one is close, the key meant.
func LoadTOML[T any](path string, c *T, fs *flag.FlagSet, w *Warnings) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	md, err := toml.Decode(string(b), c)
	if err != nil {
		var perr toml.ParseError
		if errors.As(err, &perr) {
			where := ""
			if perr.LastKey != "" {
				where = fmt.Sprintf(" key %q:", perr.LastKey)
			}
			return fmt.Errorf("config %s:%s %s", path, where, describeParseError(perr, string(b)))
		}
		return fmt.Errorf("config %s: %w", path, err)
	}
	und := md.Undecoded()
	if len(und) == 0 {
		return nil
	}
	var raw map[string]any
	if _, err := toml.Decode(string(b), &raw); err != nil {
		return fmt.Errorf("config %s: %w", path, err)
	}
	known := Keys(c)
	var errs []error
	for _, k := range und {
		key := k.String()
		if a, ok := keyAlias(key); ok {
			if _, both := raw[a.New]; both {
				errs = append(errs, fmt.Errorf("config %s: key %q is the deprecated name of %q, which is set too: remove %q", path, a.Old, a.New, a.Old))
				continue
			}
			f := flagOfKey(fs, a.New)
			if f == nil {
				errs = append(errs, fmt.Errorf("config %s: unknown key %q", path, key))
				continue
			}
			if err := f.Value.Set(fmt.Sprint(raw[a.Old])); err != nil {
				errs = append(errs, fmt.Errorf("config %s: key %q: %w", path, a.Old, err))
				continue
			}
			w.Add("key "+a.Old, fmt.Sprintf("config %s: key %q is deprecated and will be removed in the next release; use %q", path, a.Old, a.New))
			continue
		}
		msg := fmt.Sprintf("config %s: unknown key %q", path, key)
		if near := Closest(key, known); near != "" {
			msg += fmt.Sprintf(" (did you mean %q?)", near)
		}
		errs = append(errs, errors.New(msg))
	}
	return errors.Join(errs...)
}

func keyAlias(key string) (Alias, bool) {
	for _, a := range KeyAliases {
		if a.Old == key {
			return a, true
		}
	}
	return Alias{}, false
}

// flagOfKey is the flag of fs whose key is key.
func flagOfKey(fs *flag.FlagSet, key string) *flag.Flag {
	var found *flag.Flag
	fs.VisitAll(func(f *flag.Flag) {
		if Key(f.Name) == key {
			if _, isAlias := f.Value.(*aliasValue); !isAlias {
				found = f
			}
		}
	})
	return found
}
