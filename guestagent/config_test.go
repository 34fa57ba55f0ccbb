package guestagent

import (
	"errors"
	"flag"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/virtwatt/virtwatt/estimate"
)

func writeConfig(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "guest.toml")
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestParseArgsDefaults(t *testing.T) {
	cfg, rest, err := ParseArgs("run", nil, io.Discard, nil)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.ShareDir != "/mnt/virtwatt" || cfg.PollInterval.Duration != time.Second || cfg.Listen != ":28381" ||
		cfg.TopProcesses != 10 || cfg.ProcRoot != "/proc" || cfg.CSVInterval.Duration != time.Minute ||
		cfg.CarbonIntensity != nil || cfg.PUE != nil || cfg.WUE != nil || len(rest) != 0 {
		t.Fatalf("defaults = %+v rest %v", cfg, rest)
	}
}

func TestFlagsWinOverFile(t *testing.T) {
	p := writeConfig(t, `
share_dir = "/from/file"
poll_interval = "2s"
pue = 1.5
carbon_intensity = 100.0
country = "FR"
`)
	cfg, rest, err := ParseArgs("run", []string{"--config", p, "--poll-interval", "250ms", "--pue=1.1", "--", "cmd", "arg"}, io.Discard, nil)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.ShareDir != "/from/file" || cfg.PollInterval.Duration != 250*time.Millisecond || *cfg.PUE != 1.1 ||
		*cfg.CarbonIntensity != 100 || cfg.Country != "FR" {
		t.Fatalf("cfg = %+v", cfg)
	}
	if strings.Join(rest, " ") != "cmd arg" {
		t.Fatalf("rest = %v", rest)
	}
}

func TestConfigErrorsNameTheKey(t *testing.T) {
	tests := []struct {
		name, file string
		args       []string
		want       []string
	}{
		{name: "unknown key", file: "share_dir = \"/x\"\npoll_intervall = \"1s\"\n", want: []string{`"poll_intervall"`, "unknown key"}},
		{name: "unknown table key", file: "[outputs]\ncsv = \"x\"\n", want: []string{"outputs", "unknown key"}},
		{name: "bad duration", file: "poll_interval = \"fast\"\n", want: []string{"poll_interval", `"fast"`}},
		{name: "wrong type", file: "top_processes = \"ten\"\n", want: []string{"top_processes"}},
		{name: "zero poll interval", file: "poll_interval = \"0s\"\n", want: []string{"poll_interval"}},
		{name: "pue below 1", file: "pue = 0.8\n", want: []string{"pue"}},
		{name: "bad log level", file: "log_level = \"loud\"\n", want: []string{"log_level"}},
		{name: "bad webhook", file: "webhook = \"ftp://x\"\n", want: []string{"webhook"}},
		{name: "unknown country", file: "country = \"XX\"\n", want: []string{"XX"}},
		{name: "syntax error", file: "share_dir = \n", want: []string{"line 1"}},
		{name: "bad flag duration", args: []string{"--poll-interval", "soon"}, want: []string{"poll-interval"}},
		{name: "negative wue flag", args: []string{"--wue", "-1"}, want: []string{"wue"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := tt.args
			if tt.file != "" {
				args = append([]string{"--config", writeConfig(t, tt.file)}, args...)
			}
			_, _, err := ParseArgs("run", args, io.Discard, nil)
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

func TestHelp(t *testing.T) {
	var b strings.Builder
	_, _, err := ParseArgs("run", []string{"-h"}, &b, func(fs *flag.FlagSet) { fs.PrintDefaults() })
	if !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("err = %v, want flag.ErrHelp", err)
	}
	for _, f := range []string{"-share-dir", "-poll-interval", "-carbon-intensity", "-top-processes", "-csv-interval", "-webhook"} {
		if !strings.Contains(b.String(), f) {
			t.Errorf("help lacks %s", f)
		}
	}
}

// TestExampleConfigDocumentsEveryKey loads configs/guest.toml with every
// key uncommented and checks it names every key of Config.
func TestExampleConfigDocumentsEveryKey(t *testing.T) {
	b, err := os.ReadFile("../configs/guest.toml")
	if err != nil {
		t.Fatal(err)
	}
	text := string(b)
	for _, k := range knownKeys() {
		if !strings.Contains(text, "# "+k+" = ") {
			t.Errorf("configs/guest.toml does not document %q as `# %s = <default>`", k, k)
		}
	}
	// Uncommenting the documented defaults gives a valid config equal to the defaults.
	var lines []string
	for _, l := range strings.Split(text, "\n") {
		for _, k := range knownKeys() {
			if strings.HasPrefix(l, "# "+k+" = ") {
				lines = append(lines, strings.TrimPrefix(l, "# "))
			}
		}
	}
	p := writeConfig(t, strings.Join(lines, "\n"))
	cfg := Defaults()
	if err := loadFile(p, &cfg); err != nil {
		t.Fatalf("documented defaults do not load: %v\n%s", err, strings.Join(lines, "\n"))
	}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("documented defaults invalid: %v", err)
	}
	d := Defaults()
	if cfg.ShareDir != d.ShareDir || cfg.PollInterval != d.PollInterval || cfg.Listen != d.Listen ||
		cfg.TopProcesses != d.TopProcesses || cfg.CSVInterval != d.CSVInterval || cfg.ProcRoot != d.ProcRoot {
		t.Fatalf("documented defaults %+v differ from Defaults() %+v", cfg, d)
	}
}

// TestCarbonIntensityZero: --carbon-intensity 0 (or carbon_intensity = 0
// in the file) is an explicit 0 g/kWh, not "unset".
func TestCarbonIntensityZero(t *testing.T) {
	for _, args := range [][]string{
		{"--carbon-intensity", "0"},
		{"--config", writeConfig(t, "carbon_intensity = 0.0\n")},
	} {
		cfg, _, err := ParseArgs("run", args, io.Discard, nil)
		if err != nil {
			t.Fatal(err)
		}
		p := cfg.Pricing()
		if !p.Lookup.OverrideSet || p.Lookup.Override != 0 {
			t.Fatalf("%v: lookup %+v, want an explicit 0 override", args, p.Lookup)
		}
		p.Lookup.HostValue = 300 // what a host record would bring
		in, err := estimate.Resolve(p.Lookup)
		if err != nil || in.GPerKWh != 0 || in.Source != estimate.SourceOverride {
			t.Fatalf("%v: intensity %+v, %v; want 0 g/kWh from the override", args, in, err)
		}
	}
}
