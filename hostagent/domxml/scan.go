package domxml

import (
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strings"
)

// node is one element found in the document: its byte range [Start, End)
// in the input (from '<' of the start tag to the '>' of the end tag, or of
// a self-closing tag), its depth (the root is 0), its name and attributes.
type node struct {
	Name       xml.Name
	Attr       []xml.Attr
	Start, End int
	Depth      int
	Parent     int  // index in the node list; -1 for the root
	SelfClose  bool // <x/>: no end tag of its own
	CloseStart int  // offset of '<' of the end tag (End when SelfClose)
}

func (n *node) attr(local string) string {
	for _, a := range n.Attr {
		if a.Name.Local == local {
			return a.Value
		}
	}
	return ""
}

// scan lists every element of doc in document order with its byte range,
// using the decoder's input offsets so that edits can be made on the text
// itself and everything else stays byte for byte.
func scan(doc string) ([]node, error) {
	d := xml.NewDecoder(strings.NewReader(doc))
	d.Strict = true
	var nodes []node
	var stack []int
	for {
		before := int(d.InputOffset())
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("domain XML: %w", err)
		}
		after := int(d.InputOffset())
		switch t := tok.(type) {
		case xml.StartElement:
			parent := -1
			if len(stack) > 0 {
				parent = stack[len(stack)-1]
			}
			selfClose := after >= 2 && doc[after-2:after] == "/>"
			nodes = append(nodes, node{Name: t.Name, Attr: t.Copy().Attr, Start: before, Depth: len(stack), Parent: parent, SelfClose: selfClose})
			stack = append(stack, len(nodes)-1)
		case xml.EndElement:
			if len(stack) == 0 {
				return nil, fmt.Errorf("domain XML: unexpected </%s> at byte %d", t.Name.Local, before)
			}
			i := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			nodes[i].End = after
			if nodes[i].SelfClose {
				nodes[i].CloseStart = after
			} else {
				nodes[i].CloseStart = before
			}
		}
	}
	if len(stack) > 0 {
		return nil, fmt.Errorf("domain XML: <%s> is not closed", nodes[stack[len(stack)-1]].Name.Local)
	}
	if len(nodes) == 0 || nodes[0].Name.Local != "domain" {
		return nil, errors.New("domain XML: the root element is not <domain>")
	}
	return nodes, nil
}

// children returns the indexes of the direct children of nodes[p] named
// local (any name when local is "").
func children(nodes []node, p int, local string) []int {
	var out []int
	for i := p + 1; i < len(nodes) && nodes[i].Start < nodes[p].End; i++ {
		if nodes[i].Parent == p && (local == "" || nodes[i].Name.Local == local) {
			out = append(out, i)
		}
	}
	return out
}

func child(nodes []node, p int, local string) int {
	if c := children(nodes, p, local); len(c) > 0 {
		return c[0]
	}
	return -1
}

// lineIndent is the run of spaces and tabs before offset pos on its line,
// when only blanks precede it there ("" otherwise).
func lineIndent(doc string, pos int) string {
	i := pos
	for i > 0 && (doc[i-1] == ' ' || doc[i-1] == '\t') {
		i--
	}
	if i == 0 || doc[i-1] == '\n' {
		return doc[i:pos]
	}
	return ""
}

// elementIndent is the indentation of element n's start tag, or a guess
// (two spaces per level) for an element that shares its line.
func elementIndent(doc string, n *node) string {
	if in := lineIndent(doc, n.Start); in != "" || (n.Start > 0 && doc[n.Start-1] == '\n') {
		return in
	}
	return strings.Repeat("  ", n.Depth)
}

// childIndent is the indentation for a new child of p: that of its first
// child, or one step deeper than p.
func childIndent(doc string, nodes []node, p int) string {
	if c := children(nodes, p, ""); len(c) > 0 {
		return elementIndent(doc, &nodes[c[0]])
	}
	return elementIndent(doc, &nodes[p]) + "  "
}

// insertBeforeClose inserts text (an element, possibly several lines
// indented by in) as the last child of p, on its own line.
func insertBeforeClose(doc string, n *node, in, text string) (string, error) {
	if n.SelfClose {
		return "", fmt.Errorf("domain XML: <%s/> is empty; cannot add to it", n.Name.Local)
	}
	pos := n.CloseStart
	closeIn := lineIndent(doc, pos)
	if closeIn != "" || (pos > 0 && doc[pos-1] == '\n') {
		// "...\n<closeIn></p>" -> "...\n<in>text\n<closeIn></p>"
		at := pos - len(closeIn)
		return doc[:at] + in + text + "\n" + doc[at:], nil
	}
	return doc[:pos] + text + doc[pos:], nil
}

// insertAfter inserts text as a sibling right after element n, on its own
// line with n's indentation.
func insertAfter(doc string, n *node, text string) string {
	if n.End < len(doc) && (doc[n.End] == '\n' || doc[n.End] == '\r') {
		return doc[:n.End] + "\n" + elementIndent(doc, n) + text + doc[n.End:]
	}
	return doc[:n.End] + text + doc[n.End:]
}

// removeElement removes element n and, when it stands alone on its line(s),
// the line's indentation and its newline.
func removeElement(doc string, n *node) string {
	start, end := n.Start, n.End
	in := lineIndent(doc, start)
	alone := (in != "" || (start > 0 && doc[start-1] == '\n')) && (end == len(doc) || doc[end] == '\n' || doc[end] == '\r')
	if alone {
		start -= len(in)
		if end < len(doc) && doc[end] == '\r' {
			end++
		}
		if end < len(doc) && doc[end] == '\n' {
			end++
		}
	}
	return doc[:start] + doc[end:]
}

// indentLines prefixes every line of text but the first with in.
func indentLines(text, in string) string {
	return strings.ReplaceAll(text, "\n", "\n"+in)
}
