package cli

import (
	"flag"
	"io"
	"strings"

	"github.com/prometheus/common/version"
)

// WantsVersion reports whether --version (or -version, --version=true) is
// among the flags of args, wherever it is among them. Flags end where the
// flag package ends them: at "--" or at the first argument that is not a
// flag, so in `track -- CMD --version` or `track CMD --version` the
// --version is CMD's. fs knows which flags take a value (their value is
// skipped); unknown flags are taken as boolean.
func WantsVersion(args []string, fs *flag.FlagSet) bool { return FlagGiven(args, fs, "version") }

// FlagGiven reports whether the boolean flag name is set among the flags
// of args, as WantsVersion does for --version.
func FlagGiven(args []string, fs *flag.FlagSet, flagName string) bool {
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" || len(a) < 2 || a[0] != '-' {
			return false
		}
		name := strings.TrimPrefix(strings.TrimPrefix(a, "-"), "-")
		name, val, hasVal := strings.Cut(name, "=")
		if name == flagName {
			return !hasVal || val == "true" || val == "1"
		}
		if hasVal || fs == nil {
			continue
		}
		if f := fs.Lookup(name); f != nil && !isBool(f) {
			i++ // the flag's value, which may well start with '-'
		}
	}
	return false
}

func isBool(f *flag.Flag) bool {
	b, ok := f.Value.(interface{ IsBoolFlag() bool })
	return ok && b.IsBoolFlag()
}

// VersionText is what --version prints: version, revision, branch, build
// user and date, Go version and platform (prometheus/common/version, set
// with -ldflags -X github.com/prometheus/common/version.Version=...).
func VersionText(program string) string {
	return version.Print(program) + "\n"
}

// SetVersion sets version.Version from a value given the old way
// (-X main.version=...) when the new way did not set it, and "dev" when
// neither did.
func SetVersion(mainVersion string) {
	switch {
	case version.Version != "":
	case mainVersion != "":
		version.Version = mainVersion
	default:
		version.Version = "dev"
	}
}

// WantsVersion reports whether --version is among the flags of args, with
// s's flags telling which take a value.
func (s Spec[T]) WantsVersion(args []string) bool { return WantsVersion(args, s.FlagSet()) }

// FlagSet is s's flags, bound to a config of its own (for usage text and
// for telling which flags take a value). Its output is s.Output.
func (s Spec[T]) FlagSet() *flag.FlagSet {
	c := s.Defaults()
	var path string
	var w Warnings
	out := s.Output
	if out == nil {
		out = io.Discard
	}
	return s.flagSet(&c, &path, &w, out, s.Usage)
}
