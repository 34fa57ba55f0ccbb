package libvirtsrc

import (
	"encoding/xml"
	"fmt"
	"strings"

	"github.com/virtwatt/virtwatt/share"
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

// Label bounds are the share contract's, so that a guest keeps every label
// the host writes.
const (
	MaxLabels          = share.MaxLabels
	MaxLabelValueBytes = share.MaxLabelValueBytes
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
		if err := share.ValidLabelName(name); err != nil {
			problems = append(problems, LabelProblem{Name: name, Reason: err.Error() + ": dropped"})
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
			value = share.TruncateUTF8(value, MaxLabelValueBytes)
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
