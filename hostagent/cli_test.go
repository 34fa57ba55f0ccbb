package hostagent

import (
	"strings"
	"testing"
)

// TestCommandLineConvention: the host's web and log settings have the
// Prometheus ecosystem's flag names and the keys derived from them; the
// file sets them, a flag wins, and the old names still work with one
// warning each.
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
		{name: "old names", file: "listen = \"127.0.0.1:3\"\n", args: []string{"--web-config-file", "y.yml", "--log-level", "error", "--log-level", "error"},
			listen: "127.0.0.1:3", web: "y.yml", level: "error", format: "logfmt",
			warnings: []string{`key "listen" is deprecated`, "--log-level is deprecated", "--web-config-file is deprecated"}},
		{name: "old flag over new key", file: "web_listen_address = \"127.0.0.1:1\"\n", args: []string{"--listen", "127.0.0.1:4"},
			listen: "127.0.0.1:4", level: "info", format: "logfmt", warnings: []string{"--listen is deprecated"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := ParseConfig(append([]string{"--config", writeFile(t, tt.file)}, tt.args...), nil)
			if err != nil {
				t.Fatal(err)
			}
			if cfg.Listen != tt.listen || cfg.WebConfig != tt.web || cfg.LogLevel != tt.level || cfg.LogFormat != tt.format {
				t.Errorf("got %q %q %q %q, want %q %q %q %q", cfg.Listen, cfg.WebConfig, cfg.LogLevel, cfg.LogFormat,
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

// TestValidateReportsEveryError: one run names every wrong value.
func TestValidateReportsEveryError(t *testing.T) {
	p := writeFile(t, "zones = [\"core\"]\npue = 0.5\nprune_after = \"1s\"\n")
	_, err := ParseConfig([]string{"--config", p, "--meter", "watt", "--web.listen-address", "", "--web.max-connections", "0",
		"--log.level", "loud", "--log.format", "xml", "--interval", "1ms"}, nil)
	if err == nil {
		t.Fatal("no error")
	}
	for _, w := range []string{"config key interval (--interval)", "config key meter (--meter)", "config key zones (--zones)",
		"config key pue (--pue)", "config key prune_after (--prune-after)", "config key web_listen_address (--web.listen-address)",
		"config key web_max_connections (--web.max-connections)", "config key log_level (--log.level)", "config key log_format (--log.format)"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error lacks %q:\n%v", w, err)
		}
	}
}

func TestUnknownKeySuggests(t *testing.T) {
	p := writeFile(t, "intervall = \"1s\"\nlog_formt = \"json\"\n")
	_, err := ParseConfig([]string{"--config", p}, nil)
	for _, w := range []string{p, `unknown key "intervall" (did you mean "interval"?)`, `unknown key "log_formt" (did you mean "log_format"?)`} {
		if err == nil || !strings.Contains(err.Error(), w) {
			t.Errorf("error %v lacks %q", err, w)
		}
	}
}
