// Command mkdeb builds the .deb packages of virtwatt-host and
// virtwatt-guest from packaging/<name>.yaml (nfpm's format) with nfpm as
// a library, so that nothing but the Go module proxy is needed:
//
//	go -C packaging run ./cmd/mkdeb --bin ../bin --version v1.2.3 --out ../bin/packages
//
// It lives in its own module (packaging/go.mod): nfpm's dependencies never
// reach the agents' module or binaries.
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/goreleaser/nfpm/v2"
	_ "github.com/goreleaser/nfpm/v2/deb" // registers the deb packager
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintf(os.Stderr, "mkdeb: %v\n", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("mkdeb", flag.ContinueOnError)
	bin := fs.String("bin", "bin", "directory holding the built virtwatt-host and virtwatt-guest")
	root := fs.String("root", "..", "the repository root (configs/, packaging/, README.md)")
	version := fs.String("version", "dev", "version (git describe); made a Debian version")
	out := fs.String("out", "bin/packages", "directory the .deb files are written to")
	arch := fs.String("arch", runtime.GOARCH, "Debian architecture")
	names := fs.String("packages", "virtwatt-host,virtwatt-guest", "packages to build, comma-separated")
	if err := fs.Parse(args); err != nil {
		return err
	}
	abs := func(p *string) error {
		a, err := filepath.Abs(*p)
		*p = a
		return err
	}
	for _, p := range []*string{bin, root, out} {
		if err := abs(p); err != nil {
			return err
		}
	}
	deb, err := DebianVersion(*version)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return err
	}
	// The configurations name the repository's files relative to its root.
	if err := os.Chdir(*root); err != nil {
		return err
	}
	env := map[string]string{"BIN": *bin, "VERSION": deb, "ARCH": *arch}
	mtime, err := buildTime()
	if err != nil {
		return err
	}
	for _, name := range strings.Split(*names, ",") {
		path, err := build(filepath.Join("packaging", name+".yaml"), *out, env, mtime)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		fmt.Println(path)
	}
	return nil
}

// buildTime is SOURCE_DATE_EPOCH when set (reproducible builds), else now.
func buildTime() (time.Time, error) {
	s := os.Getenv("SOURCE_DATE_EPOCH")
	if s == "" {
		return time.Now().UTC().Truncate(time.Second), nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return time.Time{}, fmt.Errorf("SOURCE_DATE_EPOCH=%q: not a Unix time", s)
	}
	return time.Unix(n, 0).UTC(), nil
}

var (
	release  = regexp.MustCompile(`^v?([0-9][0-9A-Za-z.+~-]*)$`)
	gitish   = regexp.MustCompile(`^[0-9A-Za-z._+~-]+$`)
	describe = regexp.MustCompile(`^([0-9][0-9A-Za-z.~]*)-([0-9]+)-g([0-9a-f]+)(-dirty)?$`)
)

// DebianVersion turns `git describe --tags --always` output into a
// Debian version: v1.2.3 → 1.2.3, v1.2.3-4-gabc → 1.2.3+git4.abc,
// a bare commit abc1234 (no tag yet) → 0~git.abc1234; "-dirty" → "+dirty".
func DebianVersion(v string) (string, error) {
	v = strings.TrimPrefix(strings.TrimSpace(v), "v")
	dirty := strings.HasSuffix(v, "-dirty")
	v = strings.TrimSuffix(v, "-dirty")
	suffix := ""
	if dirty {
		suffix = "+dirty"
	}
	if m := describe.FindStringSubmatch(v); m != nil {
		return m[1] + "+git" + m[2] + "." + m[3] + suffix, nil
	}
	if release.MatchString(v) && !strings.Contains(v, "-") {
		return v + suffix, nil
	}
	if v != "" && gitish.MatchString(v) {
		return "0~git." + strings.ReplaceAll(v, "-", ".") + suffix, nil
	}
	return "", fmt.Errorf("version %q cannot be made a Debian version (want v1.2.3, git describe output, or a commit)", v)
}

// build packages one nfpm configuration into out and returns the .deb's path.
func build(config, out string, env map[string]string, mtime time.Time) (string, error) {
	cfg, err := nfpm.ParseFileWithEnvMapping(config, func(k string) string { return env[k] })
	if err != nil {
		return "", fmt.Errorf("%s: %w", config, err)
	}
	info, err := cfg.Get("deb")
	if err != nil {
		return "", fmt.Errorf("%s: %w", config, err)
	}
	info = nfpm.WithDefaults(info)
	info.MTime = mtime
	for _, c := range info.Contents {
		if c.Source == "" {
			continue
		}
		if _, err := os.Stat(c.Source); err != nil {
			return "", fmt.Errorf("%s: %s (run make build first)", config, err)
		}
	}
	pkg, err := nfpm.Get("deb")
	if err != nil {
		return "", err
	}
	path := filepath.Join(out, pkg.ConventionalFileName(info))
	f, err := os.Create(path)
	if err != nil {
		return "", err
	}
	info.Target = path
	if err := pkg.Package(info, f); err != nil {
		f.Close()
		os.Remove(path)
		return "", err
	}
	if err := f.Close(); err != nil {
		os.Remove(path)
		return "", err
	}
	return path, nil
}
