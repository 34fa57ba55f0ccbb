package libvirtsrc

import (
	"encoding/xml"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// LabelsNamespace is the XML namespace of the element that carries a
// domain's labels inside its libvirt <metadata>. Set labels with, for example:
//
//	<metadata>
//	  <vw:labels xmlns:vw="https://virtwatt.dev/xmlns/labels/1">
//	    <vw:label name="team">infra</vw:label>
//	    <vw:label name="project">virtwatt</vw:label>
//	  </vw:labels>
//	</metadata>
//
// or at runtime with
//
//	virsh metadata DOMAIN https://virtwatt.dev/xmlns/labels/1 --key vw \
//	  --set '<labels><label name="team">infra</label></labels>'
//
// Label names must be valid Prometheus label names not starting with "__";
// invalid ones are dropped with a log line. At most MaxLabels labels are
// kept (the first ones in document order) and each value is cut to
// MaxLabelValueBytes bytes at a UTF-8 boundary.
const LabelsNamespace = "https://virtwatt.dev/xmlns/labels/1"

const (
	// MaxLabels is the number of labels kept per domain.
	MaxLabels = 16
	// MaxLabelValueBytes is the length, in bytes, a label value is cut to.
	MaxLabelValueBytes = 128
	// maxMetadataBytes bounds the metadata element this package parses.
	maxMetadataBytes = 64 << 10
)

// labelsElement is the metadata element; namespaces are checked by hand
// because the namespace is configurable.
type labelsElement struct {
	XMLName xml.Name
	Labels  []labelElement `xml:",any"`
}

type labelElement struct {
	XMLName xml.Name
	Name    *string `xml:"name,attr"`
	Value   string  `xml:",chardata"`
}

// LabelProblem describes a label that ParseLabels dropped or altered.
type LabelProblem struct {
	Name   string // the label name as written (may be empty)
	Reason string
}

// ParseLabels parses the labels element returned by libvirt's
// virDomainGetMetadata(VIR_DOMAIN_METADATA_ELEMENT, ns). It is lenient about
// single labels (they are dropped or cut and reported in problems) and
// returns an error only when the document itself is unusable: not XML, too
// large, or a root other than <labels>. libvirt returns the element with its
// namespace stripped, so elements without a namespace count as in ns;
// elements in another namespace are ignored. An empty document yields no
// labels.
func ParseLabels(doc, ns string) (labels map[string]string, problems []LabelProblem, err error) {
	if strings.TrimSpace(doc) == "" {
		return nil, nil, nil
	}
	if len(doc) > maxMetadataBytes {
		return nil, nil, fmt.Errorf("labels metadata is %d bytes, more than the %d accepted: keep labels short", len(doc), maxMetadataBytes)
	}
	var el labelsElement
	if err := xml.Unmarshal([]byte(doc), &el); err != nil {
		return nil, nil, fmt.Errorf("parse labels metadata: %w", err)
	}
	if !inNS(el.XMLName, ns) || el.XMLName.Local != "labels" {
		return nil, nil, fmt.Errorf("labels metadata root is <%s> in namespace %q, want <labels> in %q", el.XMLName.Local, el.XMLName.Space, ns)
	}
	for _, l := range el.Labels {
		if !inNS(l.XMLName, ns) || l.XMLName.Local != "label" {
			problems = append(problems, LabelProblem{Reason: fmt.Sprintf("element <%s> in namespace %q ignored: want <label> in %q", l.XMLName.Local, l.XMLName.Space, ns)})
			continue
		}
		if l.Name == nil {
			problems = append(problems, LabelProblem{Reason: "<label> without a name attribute dropped"})
			continue
		}
		name := *l.Name
		if err := validLabelName(name); err != nil {
			problems = append(problems, LabelProblem{Name: name, Reason: err.Error()})
			continue
		}
		if _, dup := labels[name]; dup {
			problems = append(problems, LabelProblem{Name: name, Reason: "duplicate label name: the first one is kept"})
			continue
		}
		if len(labels) == MaxLabels {
			problems = append(problems, LabelProblem{Name: name, Reason: fmt.Sprintf("more than %d labels: dropped", MaxLabels)})
			continue
		}
		value := strings.TrimSpace(l.Value)
		if len(value) > MaxLabelValueBytes {
			value = truncateUTF8(value, MaxLabelValueBytes)
			problems = append(problems, LabelProblem{Name: name, Reason: fmt.Sprintf("value longer than %d bytes: cut", MaxLabelValueBytes)})
		}
		if labels == nil {
			labels = make(map[string]string)
		}
		labels[name] = value
	}
	return labels, problems, nil
}

// inNS reports whether n is in namespace ns. libvirt returns the metadata
// element with its namespace stripped (it was looked up by namespace), so
// no namespace counts as ns.
func inNS(n xml.Name, ns string) bool { return n.Space == ns || n.Space == "" }

// validLabelName reports whether name is a Prometheus label name in the
// classic (legacy) character set, [a-zA-Z_][a-zA-Z0-9_]*, and not reserved.
func validLabelName(name string) error {
	if name == "" {
		return errors.New("empty label name dropped")
	}
	if strings.HasPrefix(name, "__") {
		return errors.New("label names starting with __ are reserved by Prometheus: dropped")
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		ok := c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (i > 0 && c >= '0' && c <= '9')
		if !ok {
			return errors.New("not a valid Prometheus label name ([a-zA-Z_][a-zA-Z0-9_]*): dropped")
		}
	}
	return nil
}

// truncateUTF8 cuts s to at most n bytes without splitting a rune.
func truncateUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
