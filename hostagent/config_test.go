package hostagent

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func writeFile(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "host.toml")
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestParseConfigDefaults(t *testing.T) {
	cfg, err := ParseConfig(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Interval != time.Second || cfg.Idle != "vcpus" || cfg.Overhead != "vm" || cfg.Listen != ":28380" ||
		cfg.ShareRoot != "/var/lib/virtwatt/vms" || cfg.PruneAfter != 24*time.Hour || strings.Join(cfg.Zones, ",") != "package,dram" {
		t.Fatalf("defaults: %+v", cfg)
	}
}

func TestParseConfigFileAndFlagsWin(t *testing.T) {
	p := writeFile(t, "interval = \"2s\"\nidle = \"busy\"\nlisten = \"127.0.0.1:1\"\nzones = [\"psys\"]\n")
	cfg, err := ParseConfig([]string{"--config", p, "--listen", "127.0.0.1:2"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Interval != 2*time.Second || cfg.Idle != "busy" || cfg.Listen != "127.0.0.1:2" || strings.Join(cfg.Zones, ",") != "psys" {
		t.Fatalf("got %+v", cfg)
	}
}

func TestShippedConfigParses(t *testing.T) {
	cfg, err := ParseConfig([]string{"--config", "../configs/host.toml"}, nil)
	if err != nil {
		t.Fatalf("configs/host.toml: %v", err)
	}
	def := DefaultConfig()
	if cfg.Interval != def.Interval || cfg.Idle != def.Idle || cfg.StateFile != def.StateFile {
		t.Fatalf("configs/host.toml does not document the defaults: %+v", cfg)
	}
}

func TestParseConfigErrorsNameTheKey(t *testing.T) {
	cases := []struct {
		name, file string
		args       []string
		want       string
	}{
		{"unknown key", "intervall = \"1s\"\n", nil, "intervall"},
		{"bad duration", "interval = \"soon\"\n", nil, "soon"},
		{"bad type", "pue = \"high\"\n", nil, "pue"},
		{"bad idle", "idle = \"nobody\"\n", nil, "nobody"},
		{"bad meter", "", []string{"--meter", "wattmeter"}, "meter"},
		{"bad zone", "zones = [\"core\"]\n", nil, "zones"},
		{"psys mixed", "zones = [\"psys\", \"dram\"]\n", nil, "psys"},
		{"pue below 1", "pue = 0.5\n", nil, "pue"},
		{"state in share", "share_root = \"/srv/vms\"\nstate_file = \"/srv/vms/state.json\"\n", nil, "state_file"},
		{"ro_root in share_root", "share_root = \"/srv/vms\"\nro_root = \"/srv/vms/ro\"\n", nil, "ro_root"},
		{"share_root in ro_root", "share_root = \"/run/virtwatt/ro/vms\"\nro_root = \"/run/virtwatt/ro\"\n", nil, "ro_root"},
		{"interval too small", "", []string{"--interval", "1ms"}, "interval"},
		{"syntax", "interval = \n", nil, "host.toml"},
		{"log level", "log_level = \"loud\"\n", nil, "log_level"},
		{"zone twice", "zones = [\"package\", \"package\"]\n", nil, "twice"},
		{"dram alone", "zones = [\"dram\"]\n", nil, "never alone"},
		{"prune too soon", "prune_after = \"10s\"\n", nil, "prune_after"},
		{"no state file", "state_file = \"\"\n", nil, "state_file"},
		{"stray arg", "", []string{"extra"}, "extra"},
		{"demo without VMs", "", []string{"--demo", "--demo.vms", "0"}, "demo.vms"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			args := c.args
			if c.file != "" {
				args = append([]string{"--config", writeFile(t, c.file)}, args...)
			}
			_, err := ParseConfig(args, nil)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("want an error naming %q, got %v", c.want, err)
			}
		})
	}
}

func TestParseConfigMissingFile(t *testing.T) {
	_, err := ParseConfig([]string{"--config", "/nonexistent/host.toml"}, nil)
	if err == nil || !strings.Contains(err.Error(), "/nonexistent/host.toml") {
		t.Fatalf("got %v", err)
	}
}
