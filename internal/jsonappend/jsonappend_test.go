package jsonappend

import (
	"bytes"
	"encoding/json"
	"testing"
)

func marshal(t *testing.T, s string, escapeHTML bool) []byte {
	t.Helper()
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(escapeHTML)
	if err := enc.Encode(s); err != nil {
		t.Fatal(err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
}

var cases = []string{
	"", "plain", "6f1e2d3c-0000-4000-8000-000000000001", `q"uote`, `back\slash`,
	"<a href=x>&amp;</a>", "\b\f\n\r\t\x00\x01\x1f\x7f", "caf\u00e9 \u2028\u2029 \U0001F600",
	"bad\xffutf8\xc3", "\xed\xa0\x80",
}

func TestStringIsEncodingJSON(t *testing.T) {
	for _, html := range []bool{false, true} {
		for _, s := range cases {
			if got, want := String([]byte("x"), s, html), append([]byte("x"), marshal(t, s, html)...); !bytes.Equal(got, want) {
				t.Errorf("String(%q, escapeHTML=%v) = %s, encoding/json %s", s, html, got, want)
			}
		}
	}
}

func FuzzString(f *testing.F) {
	for _, s := range cases {
		f.Add(s, true)
		f.Add(s, false)
	}
	f.Fuzz(func(t *testing.T, s string, html bool) {
		if got, want := String(nil, s, html), marshal(t, s, html); !bytes.Equal(got, want) {
			t.Errorf("String(%q, escapeHTML=%v) = %s, encoding/json %s", s, html, got, want)
		}
	})
}
