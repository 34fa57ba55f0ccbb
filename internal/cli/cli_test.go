package cli

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/BurntSushi/toml"
)

// toy is an agent config as both agents shape theirs.
type toy struct {
	Listen    string `toml:"web_listen_address"`
	WebConfig string `toml:"web_config_file"`
	MaxConns  int    `toml:"web_max_connections"`
	LogLevel  string `toml:"log_level"`
	LogFormat string `toml:"log_format"`
	Name      string `toml:"name"`
	Sub       struct {
		Endpoint string `toml:"endpoint"`
	} `toml:"sub"`
}

func toySpec() Spec[toy] {
	return Spec[toy]{
		Name:    "toy",
		Example: "toy.toml",
		Defaults: func() toy {
			return toy{Listen: ":1", MaxConns: 64, LogLevel: DefaultLogLevel, LogFormat: DefaultLogFormat, Name: "default"}
		},
		Common: func(c *toy) Common {
			return Common{&c.Listen, &c.WebConfig, &c.MaxConns, &c.LogLevel, &c.LogFormat}
		},
		Bind: func(fs *flag.FlagSet, c *toy) { fs.StringVar(&c.Name, "name", c.Name, "a name") },
	}
}

func writeFile(t *testing.T, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "toy.toml")
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLayering(t *testing.T) {
	tests := []struct {
		name               string
		file               string
		args               []string
		listen, name2, lvl string
		warnings           int
	}{
		{name: "defaults", listen: ":1", name2: "default", lvl: "info"},
		{name: "file", file: "web_listen_address = \":2\"\nname = \"file\"\nlog_level = \"debug\"\n", listen: ":2", name2: "file", lvl: "debug"},
		{name: "flags", args: []string{"--web.listen-address", ":3", "--name", "flag"}, listen: ":3", name2: "flag", lvl: "info"},
		{name: "flag wins over file", file: "web_listen_address = \":2\"\nname = \"file\"\n",
			args: []string{"--web.listen-address=:3"}, listen: ":3", name2: "file", lvl: "info"},
		{name: "file keeps what flags do not set", file: "name = \"file\"\nlog_level = \"warn\"\n",
			args: []string{"--web.listen-address", ":3"}, listen: ":3", name2: "file", lvl: "warn"},
		{name: "old key", file: "listen = \":4\"\n", listen: ":4", name2: "default", lvl: "info", warnings: 1},
		{name: "new flag wins over old key", file: "listen = \":4\"\n", args: []string{"--web.listen-address", ":5"}, listen: ":5", name2: "default", lvl: "info", warnings: 1},
		{name: "old flag wins over new key", file: "web_listen_address = \":4\"\n", args: []string{"--listen", ":6"}, listen: ":6", name2: "default", lvl: "info", warnings: 1},
		{name: "old flag", args: []string{"--log-level", "error"}, listen: ":1", name2: "default", lvl: "error", warnings: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := tt.args
			if tt.file != "" {
				args = append([]string{"--config", writeFile(t, tt.file)}, args...)
			}
			res, err := toySpec().Parse(args)
			if err != nil {
				t.Fatal(err)
			}
			c := res.Config
			if c.Listen != tt.listen || c.Name != tt.name2 || c.LogLevel != tt.lvl {
				t.Errorf("listen %q name %q level %q, want %q %q %q", c.Listen, c.Name, c.LogLevel, tt.listen, tt.name2, tt.lvl)
			}
			if len(res.Warnings) != tt.warnings {
				t.Errorf("warnings %q, want %d", res.Warnings, tt.warnings)
			}
		})
	}
}

// TestAliasWarningsOnePerAlias: each deprecated name used gives exactly
// one warning, naming it and its replacement, however often it is given.
func TestAliasWarningsOnePerAlias(t *testing.T) {
	p := writeFile(t, "listen = \":9\"\n")
	res, err := toySpec().Parse([]string{"--config", p, "--listen", ":7", "--listen=:8", "--log-level", "debug",
		"--web-config-file", "w.yml", "--log-level=warn"})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"flag --listen":          "--web.listen-address",
		"flag --log-level":       "--log.level",
		"flag --web-config-file": "--web.config.file",
		`key "listen"`:           `"web_listen_address"`,
	}
	if len(res.Warnings) != len(want) {
		t.Fatalf("%d warnings, want %d: %q", len(res.Warnings), len(want), res.Warnings)
	}
	for old, repl := range want {
		n := 0
		for _, w := range res.Warnings {
			if strings.Contains(w, old+" is deprecated") && strings.Contains(w, "use "+repl) {
				n++
			}
		}
		if n != 1 {
			t.Errorf("%d warnings for %s (-> %s), want 1: %q", n, old, repl, res.Warnings)
		}
	}
	if c := res.Config; c.Listen != ":8" || c.LogLevel != "warn" || c.WebConfig != "w.yml" {
		t.Errorf("aliases did not set the fields: %+v", c)
	}
}

func TestFileErrors(t *testing.T) {
	tests := []struct {
		name, file string
		want       []string
		not        string
	}{
		{name: "typo", file: "web_listen_adress = \":1\"\n", want: []string{`unknown key "web_listen_adress"`, `did you mean "web_listen_address"?`}},
		{name: "far from any key", file: "zzzzzzzz = 1\n", want: []string{`unknown key "zzzzzzzz"`}, not: "did you mean"},
		{name: "table key", file: "[sub]\nendpointt = \"x\"\n", want: []string{`"sub.endpointt"`, `did you mean "sub.endpoint"?`}},
		{name: "every unknown key", file: "nme = \"x\"\nlog_levle = \"x\"\n", want: []string{`"nme"`, `"log_levle"`, `did you mean "name"?`, `did you mean "log_level"?`}},
		{name: "old and new key", file: "listen = \":1\"\nweb_listen_address = \":2\"\n", want: []string{`"listen"`, "remove"}},
		{name: "syntax", file: "name = \n", want: []string{"line 1"}},
		{name: "wrong type", file: "web_max_connections = \"many\"\n", want: []string{"web_max_connections"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := writeFile(t, tt.file)
			_, err := toySpec().Parse([]string{"--config", p})
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range append(tt.want, p) {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			if tt.not != "" && strings.Contains(err.Error(), tt.not) {
				t.Errorf("error %q has %q", err, tt.not)
			}
		})
	}
}

func TestCommonValidateReportsEveryError(t *testing.T) {
	c := toy{Listen: "", MaxConns: 0, LogLevel: "loud", LogFormat: "xml"}
	var p Problems
	Common{&c.Listen, &c.WebConfig, &c.MaxConns, &c.LogLevel, &c.LogFormat}.Validate(&p)
	p.Add("share-root", "must not be empty")
	p.Add("idle/overhead", "bad")
	err := p.Err()
	for _, w := range []string{
		"config key web_listen_address (--web.listen-address): must not be empty",
		"config key web_max_connections (--web.max-connections): 0 is out of range",
		`config key log_level (--log.level): "loud" is not one of debug, info, warn, error`,
		`config key log_format (--log.format): "xml" is not one of logfmt, json`,
		"config key share_root (--share-root): must not be empty",
		"config key idle/overhead: bad",
	} {
		if err == nil || !strings.Contains(err.Error(), w) {
			t.Errorf("error %v lacks %q", err, w)
		}
	}
	c = toy{Listen: ":1", MaxConns: 1, LogLevel: "DEBUG", LogFormat: "json"}
	p = Problems{}
	Common{&c.Listen, &c.WebConfig, &c.MaxConns, &c.LogLevel, &c.LogFormat}.Validate(&p)
	if err := p.Err(); err != nil {
		t.Errorf("valid values refused: %v", err)
	}
}

func TestWantsVersion(t *testing.T) {
	fs := toySpec().FlagSet()
	fs.Bool("once", false, "")
	tests := []struct {
		args []string
		want bool
	}{
		{[]string{"--version"}, true},
		{[]string{"-version"}, true},
		{[]string{"--version=true"}, true},
		{[]string{"--version=false"}, false},
		{[]string{"--name", "x", "--once", "--version"}, true},
		{[]string{"--name=x", "--version", "--name", "y"}, true},
		{[]string{"--name", "--version"}, false},   // --version is --name's value
		{[]string{"--unknown", "--version"}, true}, // unknown flags are taken as boolean
		{[]string{"--", "--version"}, false},       // after the separator: a command's
		{[]string{"--name", "x", "--", "cmd", "--version"}, false},
		{[]string{"cmd", "--version"}, false}, // after the first argument that is not a flag
		{nil, false},
	}
	for _, tt := range tests {
		if got := WantsVersion(tt.args, fs); got != tt.want {
			t.Errorf("WantsVersion(%q) = %v, want %v", tt.args, got, tt.want)
		}
	}
}

func TestParseLevel(t *testing.T) {
	for _, s := range []string{"debug", "info", "warn", "error", "DEBUG", "Warn"} {
		if _, err := ParseLevel(s); err != nil {
			t.Errorf("ParseLevel(%q): %v", s, err)
		}
	}
	for _, s := range []string{"loud", "", "info+2", "trace"} {
		if _, err := ParseLevel(s); err == nil {
			t.Errorf("ParseLevel(%q) accepted", s)
		}
	}
}

func TestLoggerFormats(t *testing.T) {
	var j, l bytes.Buffer
	NewLogger(&j, "info", "json").Info("hello", "zone", "package")
	NewLogger(&j, "info", "json").Debug("not shown")
	NewLogger(&l, "debug", "logfmt").Debug("hello there", "zone", "dram")
	var rec map[string]any
	if err := json.Unmarshal(j.Bytes(), &rec); err != nil {
		t.Fatalf("json log %q: %v", j.String(), err)
	}
	if rec["msg"] != "hello" || rec["level"] != "INFO" || rec["zone"] != "package" || rec["source"] == nil || rec["time"] == nil {
		t.Errorf("json log record %v", rec)
	}
	if strings.Count(j.String(), "\n") != 1 {
		t.Errorf("debug line logged at info: %q", j.String())
	}
	line := l.String()
	for _, w := range []string{"time=", " level=DEBUG ", " source=cli_test.go:", ` msg="hello there"`, " zone=dram"} {
		if !strings.Contains(line, w) {
			t.Errorf("logfmt line %q lacks %q", line, w)
		}
	}
	if !strings.HasPrefix(line, "time=") || json.Valid(l.Bytes()) {
		t.Errorf("logfmt line %q", line)
	}
}

func TestKeys(t *testing.T) {
	got := strings.Join(Keys(&toy{}), " ")
	want := "log_format log_level name sub.endpoint web_config_file web_listen_address web_max_connections"
	if got != want {
		t.Errorf("Keys = %q, want %q", got, want)
	}
	for _, f := range []string{FlagListenAddress, FlagWebConfigFile, FlagMaxConnections, FlagLogLevel, FlagLogFormat} {
		if !strings.Contains(" "+got+" ", " "+Key(f)+" ") {
			t.Errorf("flag --%s has no key %s", f, Key(f))
		}
	}
}

func TestHelp(t *testing.T) {
	var b bytes.Buffer
	s := toySpec()
	s.Output = &b
	s.Usage = func(fs *flag.FlagSet) { fs.PrintDefaults() }
	_, err := s.Parse([]string{"-h"})
	if !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("err = %v", err)
	}
	for _, w := range []string{"-web.listen-address", "-log.format", "-version", "-config", "deprecated: use --web.listen-address"} {
		if !strings.Contains(b.String(), w) {
			t.Errorf("help lacks %q", w)
		}
	}
}

// TestDescribeParseErrorAnyPosition: whatever position the decoder
// reports — one it never recorded (line 0, which made toml's own
// ErrorWithPosition index lines[-1] in a fuzzed CI run), past the last
// line, or a column past the line's end — the description is the
// message, with the line and a caret only where they exist.
func TestDescribeParseErrorAnyPosition(t *testing.T) {
	src := "a = 1\nb = \"x\"\n"
	tests := []struct {
		name string
		pos  toml.Position
		want string
	}{
		{"unrecorded", toml.Position{Line: 0, Col: 2, Start: 1, Len: 1}, "bad"},
		{"past the end", toml.Position{Line: 9, Col: 1, Len: 1}, "bad"},
		{"negative", toml.Position{Line: -3, Col: -1, Len: -1}, "bad"},
		{"column past the line", toml.Position{Line: 1, Col: 40, Len: 1}, "line 1: bad\n\ta = 1"},
		{"width past the line", toml.Position{Line: 2, Col: 5, Len: 99}, "line 2, column 5: bad\n\tb = \"x\"\n\t    ^"},
		{"exact", toml.Position{Line: 2, Col: 5, Len: 3}, "line 2, column 5: bad\n\tb = \"x\"\n\t    ^^^"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := describeParseError(toml.ParseError{Message: "bad", Position: tt.pos}, src)
			if got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}
