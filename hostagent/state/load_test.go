package state

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// good is a valid file; the bad cases below each break one thing in it.
const good = `{"version":1,"saved_at":"2026-11-27T01:02:03Z",
"host_energy_uj":{"package/0":300},"unattributed_uj":{"package":100},"forgotten_uj":{},
"vms":{"u1":{"name":"a","instance":"i1","sequence":7,"zones":{"package":{"usage_uj":150,"idle_uj":50}},
  "vcpu_time_ns":1,"cpu_time_ns":2,"last_seen":"2026-11-27T01:02:03Z","instance_base":{"package":{"usage_uj":10,"idle_uj":5}}}},
"dirs":{"a":"2026-11-27T01:02:03Z"},
"baseline":{"time":"2026-11-27T01:02:03Z","meter":"powercap","readings":[{"kind":"package","socket":0,"energy_uj":5,"max_range_uj":10}],
  "busy_ns":1,"cpus":4,"domains":{"u1":[1,2]},"boot_id":"b1","host_name":"h","machine_id":"m"}}`

func TestLoadGoodFixture(t *testing.T) {
	p := filepath.Join(t.TempDir(), "state.json")
	if err := os.WriteFile(p, []byte(good), 0o600); err != nil {
		t.Fatal(err)
	}
	st, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	if st.VMs["u1"].SinceInstance("package").TotalUJ() != 185 || st.Baseline.BootID != "b1" {
		t.Fatalf("fixture misread: %+v", st)
	}
}

// Every bad file is refused at start with an error naming the file, the
// field and the fix; none is taken as empty.
func TestLoadRefusesBadFiles(t *testing.T) {
	vm := func(body string) string {
		return `{"version":1,"vms":{"u1":` + body + `}}`
	}
	cases := []struct {
		name, body, field string
	}{
		{"empty file", ``, "document is empty"},
		{"null", `null`, "document is null"},
		{"array", `[]`, "document is an array"},
		{"string", `"x"`, "document is a string"},
		{"empty object", `{}`, "version is missing"},
		{"no version", `{"vms":{}}`, "version is missing"},
		{"version 0", `{"version":0}`, "version is missing"},
		{"unknown version", `{"version":99}`, "version is 99"},
		{"version as string", `{"version":"1"}`, "version is a JSON string"},
		{"trailing garbage", good + `x`, "trailing data"},
		{"second object", good + `{}`, "trailing data"},
		{"truncated", good[:len(good)/2], "unreadable"},
		{"negative counter", `{"version":1,"host_energy_uj":{"package/0":-1}}`, `host_energy_uj["package/0"] is negative`},
		{"counter over 2^64", `{"version":1,"unattributed_uj":{"dram":18446744073709551616}}`, `unattributed_uj["dram"] is 18446744073709551616, above 2^64-1`},
		{"counter over the bound", `{"version":1,"forgotten_uj":{"dram":18446744073709551615}}`, `forgotten_uj["dram"] is 18446744073709551615 µJ, above`},
		{"fractional counter", `{"version":1,"host_energy_uj":{"package/0":1.5}}`, `host_energy_uj["package/0"] is 1.5, not an integer`},
		{"exponent", `{"version":1,"host_energy_uj":{"package/0":1e3}}`, `not an integer`},
		{"vm counter negative", vm(`{"instance":"i","zones":{"package":{"usage_uj":-5}}}`), `vms["u1"].zones["package"].usage_uj is negative`},
		{"vm counter over 2^64", vm(`{"instance":"i","zones":{"dram":{"idle_uj":99999999999999999999}}}`), `vms["u1"].zones["dram"].idle_uj is 99999999999999999999, above 2^64-1`},
		{"usage+idle overflow", vm(`{"instance":"i","zones":{"package":{"usage_uj":9223372036854775808,"idle_uj":9223372036854775808}}}`), `vms["u1"].zones["package"] usage_uj + idle_uj overflows`},
		{"sequence at 2^64-1", vm(`{"instance":"i","sequence":18446744073709551615,"zones":{}}`), `vms["u1"].sequence is 18446744073709551615`},
		{"empty instance", vm(`{"instance":"","zones":{}}`), `vms["u1"].instance is empty`},
		{"no instance", vm(`{"zones":{}}`), `vms["u1"].instance is empty`},
		{"null vm", vm(`null`), `vms["u1"] is null`},
		{"vm not an object", vm(`7`), `vms["u1"] is a JSON number, want an object`},
		{"null zones", vm(`{"instance":"i","zones":null}`), `vms["u1"].zones is missing or null`},
		{"no zones", vm(`{"instance":"i"}`), `vms["u1"].zones is missing or null`},
		{"base above counters", vm(`{"instance":"i","zones":{"package":{"usage_uj":1}},"instance_base":{"package":{"usage_uj":2}}}`), `vms["u1"].instance_base["package"] (2, 0 µJ) is above`},
		{"empty uuid", `{"version":1,"vms":{"":{"instance":"i","zones":{}}}}`, `vms[""] has an empty key`},
		{"vms as array", `{"version":1,"vms":[1,2]}`, `vms is a JSON array, want an object`},
		{"duplicate key", `{"version":1,"vms":{},"vms":{}}`, `vms is given twice`},
		{"duplicate key in other case", `{"version":1,"Version":1}`, `Version is given twice`},
		{"duplicate vm", `{"version":1,"vms":{"u1":{"instance":"i","zones":{}},"u1":{"instance":"j","zones":{}}}}`, `vms["u1"] is given twice`},
		{"bad time", vm(`{"instance":"i","zones":{},"last_seen":"yesterday"}`), `vms["u1"].last_seen is "yesterday", not an RFC 3339 time`},
		{"time as number", `{"version":1,"saved_at":5}`, `saved_at is a number, want an RFC 3339 time string`},
		{"dir name with slash", `{"version":1,"dirs":{"../x":"2026-11-27T01:02:03Z"}}`, `dirs["../x"] is not a valid share directory name`},
		{"bad dir time", `{"version":1,"dirs":{"a":"soon"}}`, `dirs["a"] is "soon"`},
		{"negative socket", `{"version":1,"baseline":{"readings":[{"kind":"package","socket":-1}]}}`, `baseline.readings[0].socket is negative`},
		{"duplicate reading", `{"version":1,"baseline":{"readings":[{"kind":"package"},{"kind":"package"}]}}`, `baseline.readings[1] repeats zone package of socket 0`},
		{"empty reading kind", `{"version":1,"baseline":{"readings":[{"socket":1}]}}`, `baseline.readings[0].kind is empty`},
		{"negative cpus", `{"version":1,"baseline":{"cpus":-4}}`, `baseline.cpus is negative`},
		{"deep nesting", `{"version":1,"x":` + strings.Repeat("[", 40) + strings.Repeat("]", 40) + `}`, `nests deeper`},
	}
	dir := t.TempDir()
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := filepath.Join(dir, "state-"+string(rune('a'+i%26))+strings.Repeat("x", i/26)+".json")
			if err := os.WriteFile(p, []byte(c.body), 0o600); err != nil {
				t.Fatal(err)
			}
			st, err := Load(p)
			if err == nil {
				t.Fatalf("accepted: %+v", st)
			}
			msg := err.Error()
			for _, want := range []string{p, c.field, "move the file aside"} {
				if !strings.Contains(msg, want) {
					t.Errorf("error %q does not mention %q", msg, want)
				}
			}
		})
	}
}

// What is not a regular file at the state path is refused at once: a FIFO
// would otherwise block the start forever, deaf to SIGTERM.
func TestLoadRefusesSpecialFilesWithoutBlocking(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo.json")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	real := filepath.Join(dir, "real.json")
	if err := New().Save(real, time.Now()); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "link.json")
	if err := os.Symlink(real, link); err != nil {
		t.Fatal(err)
	}
	sub := filepath.Join(dir, "dir.json")
	if err := os.Mkdir(sub, 0o700); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ path, what string }{
		{fifo, "FIFO"}, {"/dev/null", "character device"}, {sub, "directory"}, {link, "symlink"},
	} {
		t.Run(c.what, func(t *testing.T) {
			done := make(chan error, 1)
			go func() { _, err := Load(c.path); done <- err }()
			select {
			case err := <-done:
				if err == nil || !strings.Contains(err.Error(), c.path) || !strings.Contains(err.Error(), c.what) {
					t.Fatalf("got %v, want a refusal naming %s and %q", err, c.path, c.what)
				}
			case <-time.After(3 * time.Second):
				t.Fatal("Load blocked")
			}
		})
	}
}

// A file larger than the limit is refused without being read through.
func TestLoadRefusesHugeFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "state.json")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(maxSize + 1); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if _, err := Load(p); err == nil || !strings.Contains(err.Error(), p) {
		t.Fatalf("got %v", err)
	}
}

// Field errors are typed, so callers (and the fuzz target) can tell a
// refused value from an I/O failure.
func TestParseFieldError(t *testing.T) {
	_, err := Parse([]byte(`{"version":1,"vms":{"u":null}}`))
	var fe *FieldError
	if !errors.As(err, &fe) || fe.Path != `vms["u"]` {
		t.Fatalf("got %#v", err)
	}
}
