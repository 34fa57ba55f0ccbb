package hostagent

import (
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
)

// FuzzParseConfig: whatever the TOML file holds, ParseConfig never panics;
// an error names the file (TOML syntax, an unknown key, a value of the
// wrong type) or the key at fault, and a key it names is one the file
// may hold.
func FuzzParseConfig(f *testing.F) {
	if b, err := os.ReadFile(filepath.Join("..", "configs", "host.toml")); err == nil {
		f.Add(b)
	}
	f.Add([]byte("interval = \"1ns\"\n"))
	f.Add([]byte("zones = [\"dram\"]\npue = 0.5\n"))
	f.Add([]byte("prune_after = 5\n"))
	f.Add([]byte("[table]\nkey = 1\n"))
	keys := tomlKeys()
	keyRe := regexp.MustCompile(`config key ([a-z_/]+)[ :]`)
	path := filepath.Join(f.TempDir(), "host.toml")
	f.Fuzz(func(t *testing.T, b []byte) {
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := ParseConfig([]string{"--config", path}, nil)
		if err == nil {
			return
		}
		msg := err.Error()
		// A syntax error quotes the file's offending line after the
		// first; only the message itself names keys.
		head, _, _ := strings.Cut(msg, "\n")
		named := keyRe.FindAllStringSubmatch(head, -1)
		if !strings.Contains(msg, path) && len(named) == 0 {
			t.Fatalf("error names neither the file nor a key: %v", err)
		}
		for _, m := range named {
			for _, k := range strings.Split(m[1], "/") {
				if !keys[k] {
					t.Fatalf("error names %q, not a key of the file: %v", k, err)
				}
			}
		}
	})
}

// tomlKeys are the keys a host config file may hold.
func tomlKeys() map[string]bool {
	keys := map[string]bool{}
	typ := reflect.TypeOf(Config{})
	for i := 0; i < typ.NumField(); i++ {
		if k, _, _ := strings.Cut(typ.Field(i).Tag.Get("toml"), ","); k != "" && k != "-" {
			keys[k] = true
		}
	}
	return keys
}
