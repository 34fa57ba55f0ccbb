package cli

import (
	"fmt"
	"strings"

	"github.com/BurntSushi/toml"
)

// describeParseError renders a TOML parse error as "line L, column C:
// message" followed by the offending line and a caret, from the source
// the caller read. Every index is checked against src: the decoder can
// report a position it never recorded (line 0 — toml v1.6.0's own
// ErrorWithPosition then indexes lines[-1] and panics; a fuzzed config
// found it), or one past the end, and then only the message is given.
func describeParseError(pe toml.ParseError, src string) string {
	msg := pe.Message
	if msg == "" {
		msg = strings.TrimPrefix(pe.Error(), "toml: ")
	}
	lines := strings.Split(src, "\n")
	p := pe.Position
	if p.Line < 1 || p.Line > len(lines) {
		return msg
	}
	text := lines[p.Line-1]
	col := p.Col
	if col < 1 || col > len(text)+1 {
		return fmt.Sprintf("line %d: %s\n\t%s", p.Line, msg, printable(text))
	}
	width := p.Len
	if width < 1 || col-1+width > len(text)+1 {
		width = 1
	}
	return fmt.Sprintf("line %d, column %d: %s\n\t%s\n\t%s%s",
		p.Line, col, msg, printable(text), strings.Repeat(" ", col-1), strings.Repeat("^", width))
}

// printable replaces tabs by one space and every other control byte by
// '?', so the caret stays under its column and a hostile file cannot
// drive the terminal.
func printable(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r == '\t':
			return ' '
		case r < 0x20 || r == 0x7f:
			return '?'
		}
		return r
	}, s)
}
