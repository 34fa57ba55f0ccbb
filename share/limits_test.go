package share

import "testing"

func TestTruncateUTF8(t *testing.T) {
	tests := []struct {
		in   string
		n    int
		want string
	}{
		{"abc", 5, "abc"},
		{"abc", 3, "abc"},
		{"abcd", 3, "abc"},
		{"aé", 2, "a"},  // é = c3 a9: cutting after c3 would split it
		{"aé", 3, "aé"}, // fits exactly
		{"€", 2, ""},    // 3-byte rune, nothing fits
	}
	for _, tt := range tests {
		if got := TruncateUTF8(tt.in, tt.n); got != tt.want {
			t.Errorf("TruncateUTF8(%q, %d) = %q, want %q", tt.in, tt.n, got, tt.want)
		}
	}
}
