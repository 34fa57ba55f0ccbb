// Package jsonappend appends values as encoding/json encodes them, byte
// for byte, without reflection or allocation beyond the destination's
// growth: the host agent's state encoder and the shared record encoder
// both write per VM per tick. Differential tests against encoding/json
// live with each caller (hostagent/state, share) and here.
package jsonappend

import "unicode/utf8"

const hex = "0123456789abcdef"

// String appends s as a JSON string as encoding/json does: ", \ and
// control characters escaped, invalid UTF-8 as U+FFFD, U+2028 and U+2029
// escaped, and, when escapeHTML is set (Marshal's default; an Encoder's
// SetEscapeHTML), <, > and & as \u003c, \u003e and \u0026.
func String(b []byte, s string, escapeHTML bool) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && (!escapeHTML || (c != '<' && c != '>' && c != '&')) {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '\\', '"':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hex[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
