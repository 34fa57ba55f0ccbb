package main

import (
	"io"
	"strings"
	"testing"
)

// TestSubcommandHelpListsOnlyItsFlags: each subcommand's --help lists the
// flags it uses and none it would ignore (calibrate reads the meter and the
// state file: no libvirt URI, no share root, no metrics address).
func TestSubcommandHelpListsOnlyItsFlags(t *testing.T) {
	cases := []struct {
		name      string
		run       func(args []string, stdout, stderr io.Writer) int
		want, not []string
	}{
		{"calibrate", cmdCalibrate,
			[]string{"-config", "-meter", "-powercap-root", "-state-file", "-proc-root", "-threads"},
			[]string{"-web.listen-address", "-listen", "-libvirt-uri", "-share-root", "-ro-root"}},
		{"doctor", cmdDoctor,
			[]string{"-config", "-libvirt-uri", "-share-root", "-ro-root", "-meter", "-state-file", "-web.listen-address"},
			nil},
		{"attach", cmdAttach,
			[]string{"-config", "-libvirt-uri", "-share-root", "-ro-root", "-type"},
			[]string{"-web.listen-address", "-meter", "-state-file"}},
		{"detach", cmdDetach,
			[]string{"-config", "-libvirt-uri", "-share-root", "-ro-root"},
			[]string{"-web.listen-address", "-meter", "-state-file"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var out, errb strings.Builder
			if code := c.run([]string{"--help"}, &out, &errb); code != 0 {
				t.Fatalf("--help: exit %d\n%s", code, errb.String())
			}
			help := errb.String()
			flags := map[string]bool{}
			for _, line := range strings.Split(help, "\n") {
				if f, ok := strings.CutPrefix(strings.TrimSpace(line), "-"); ok {
					flags["-"+strings.Fields(f)[0]] = true
				}
			}
			for _, f := range c.want {
				if !flags[f] {
					t.Errorf("--help lacks %s:\n%s", f, help)
				}
			}
			for _, f := range c.not {
				if flags[f] {
					t.Errorf("--help lists %s, which %s ignores:\n%s", f, c.name, help)
				}
			}
		})
	}
}
