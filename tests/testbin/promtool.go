package testbin

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// Promtool returns promtool's path, or "" when it is not installed; then
// the test fails when VIRTWATT_REQUIRE_TOOLS is set (CI), so a missing
// tool never passes there. The caller decides what "" means: skip, or
// leave out one lint step.
func Promtool(t testing.TB) string {
	t.Helper()
	p, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv("VIRTWATT_REQUIRE_TOOLS") != "" {
			t.Fatal("promtool not found (Debian: apt-get install prometheus) and VIRTWATT_REQUIRE_TOOLS is set")
		}
		return ""
	}
	return p
}

// CheckMetrics runs `promtool check metrics` on text, a /metrics page of
// name, and fails the test on any problem promtool reports. Without
// promtool (and outside CI) it logs that the lint step did not run.
func CheckMetrics(t testing.TB, name, text string) {
	t.Helper()
	p := Promtool(t)
	if p == "" {
		t.Log("promtool not installed: lint step not run")
		return
	}
	cmd := exec.Command(p, "check", "metrics")
	cmd.Stdin = strings.NewReader(text)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("%s: promtool check metrics: %v\n%s", name, err, out)
	}
}
