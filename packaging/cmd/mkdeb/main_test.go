package main

import "testing"

func TestDebianVersion(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"v1.2.3", "1.2.3"},
		{"1.2.3", "1.2.3"},
		{"v1.2.3-4-gabc1234", "1.2.3+git4.abc1234"},
		{"v1.2.3-4-gabc1234-dirty", "1.2.3+git4.abc1234+dirty"},
		{"abc1234", "0~git.abc1234"},
		{"abc1234-dirty", "0~git.abc1234+dirty"},
		{"dev", "0~git.dev"},
	} {
		got, err := DebianVersion(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("DebianVersion(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
	for _, bad := range []string{"", "1.0 beta", "v1/2"} {
		if got, err := DebianVersion(bad); err == nil {
			t.Errorf("DebianVersion(%q) = %q, want an error", bad, got)
		}
	}
}
