package guestagent

import (
	"io"
	"strings"
	"testing"
)

// TestCommandLineConvention: the guest's web and log settings have the
// same flags and keys as the host's; the file sets them, a flag wins, and
// the old names still work with one warning each.
func TestCommandLineConvention(t *testing.T) {
	tests := []struct {
		name, file                 string
		args                       []string
		listen, web, level, format string
		warnings                   []string
	}{
		{name: "file", file: "web_listen_address = \"127.0.0.1:1\"\nweb_config_file = \"w.yml\"\nlog_level = \"debug\"\nlog_format = \"json\"\n",
			listen: "127.0.0.1:1", web: "w.yml", level: "debug", format: "json"},
		{name: "flags win", file: "web_listen_address = \"127.0.0.1:1\"\nlog_format = \"json\"\n",
			args:   []string{"--web.listen-address", "127.0.0.1:2", "--web.config.file", "x.yml", "--log.level", "warn", "--log.format", "logfmt"},
			listen: "127.0.0.1:2", web: "x.yml", level: "warn", format: "logfmt"},
		{name: "old names", file: "listen = \"127.0.0.1:3\"\n", args: []string{"--log-level", "error", "--log-level=error"},
			listen: "127.0.0.1:3", level: "error", format: "logfmt",
			warnings: []string{`key "listen" is deprecated`, "--log-level is deprecated"}},
		{name: "old flag", file: "", args: []string{"--listen", "127.0.0.1:4", "--listen", "127.0.0.1:5"},
			listen: "127.0.0.1:5", level: "info", format: "logfmt", warnings: []string{"--listen is deprecated"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := tt.args
			if tt.file != "" {
				args = append([]string{"--config", writeConfig(t, tt.file)}, args...)
			}
			cfg, _, err := ParseArgs("virtwatt-guest", args, io.Discard, nil)
			if err != nil {
				t.Fatal(err)
			}
			if cfg.Listen != tt.listen || cfg.WebConfigFile != tt.web || cfg.LogLevel != tt.level || cfg.LogFormat != tt.format {
				t.Errorf("got %q %q %q %q, want %q %q %q %q", cfg.Listen, cfg.WebConfigFile, cfg.LogLevel, cfg.LogFormat,
					tt.listen, tt.web, tt.level, tt.format)
			}
			if len(cfg.Warnings) != len(tt.warnings) {
				t.Fatalf("warnings %q, want %d", cfg.Warnings, len(tt.warnings))
			}
			for i, w := range tt.warnings {
				if !strings.Contains(cfg.Warnings[i], w) {
					t.Errorf("warning %q lacks %q", cfg.Warnings[i], w)
				}
			}
		})
	}
}

// TestValidateReportsEveryError: one run names every wrong value, as the
// host does (the guest used to stop at the first).
func TestValidateReportsEveryError(t *testing.T) {
	p := writeConfig(t, "pue = 0.5\nwebhook = \"ftp://x\"\n")
	_, _, err := ParseArgs("virtwatt-guest", []string{"--config", p, "--share-dir", "", "--poll-interval", "1ns",
		"--top-processes", "-1", "--web.listen-address", "", "--web.max-connections", "0", "--log.level", "loud", "--log.format", "xml"}, io.Discard, nil)
	if err == nil {
		t.Fatal("no error")
	}
	for _, w := range []string{"config key share_dir (--share-dir)", "config key poll_interval (--poll-interval)",
		"config key top_processes (--top-processes)", "config key pue (--pue)", "config key webhook (--webhook)",
		"config key web_listen_address (--web.listen-address)", "config key web_max_connections (--web.max-connections)",
		"config key log_level (--log.level)", "config key log_format (--log.format)", p} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error lacks %q:\n%v", w, err)
		}
	}
}
