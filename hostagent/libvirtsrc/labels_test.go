package libvirtsrc

import (
	"fmt"
	"maps"
	"strings"
	"testing"
)

func TestParseLabels(t *testing.T) {
	const ns = LabelsNamespace
	wrap := func(body string) string {
		return `<vw:labels xmlns:vw="` + ns + `">` + body + `</vw:labels>`
	}
	var many strings.Builder
	for i := range MaxLabels + 2 {
		fmt.Fprintf(&many, `<vw:label name="l%02d">v</vw:label>`, i)
	}
	wantMany := map[string]string{}
	for i := range MaxLabels {
		wantMany[fmt.Sprintf("l%02d", i)] = "v"
	}
	long := strings.Repeat("a", MaxLabelValueBytes-1) + "é" // é is 2 bytes, straddling the limit

	tests := []struct {
		name         string
		doc          string
		want         map[string]string
		wantProblems []string // label names reported, in order
		wantErr      string
	}{
		{name: "empty document", doc: "  ", want: nil},
		{name: "two labels, value trimmed", doc: wrap(`<vw:label name="team">infra</vw:label><vw:label name="project"> virtwatt
			</vw:label>`), want: map[string]string{"team": "infra", "project": "virtwatt"}},
		{name: "default namespace form", doc: `<labels xmlns="` + ns + `"><label name="env">prod</label></labels>`,
			want: map[string]string{"env": "prod"}},
		{name: "empty value kept", doc: wrap(`<vw:label name="env"/>`), want: map[string]string{"env": ""}},
		{name: "invalid names dropped", doc: wrap(`<vw:label name="cost-center">42</vw:label><vw:label name="9lives">x</vw:label>` +
			`<vw:label name="__name__">x</vw:label><vw:label name="">x</vw:label><vw:label name="ok_1">y</vw:label>`),
			want: map[string]string{"ok_1": "y"}, wantProblems: []string{"cost-center", "9lives", "__name__", ""}},
		{name: "utf-8 name dropped", doc: wrap(`<vw:label name="équipe">x</vw:label>`), want: nil, wantProblems: []string{"équipe"}},
		{name: "missing name attribute", doc: wrap(`<vw:label>x</vw:label><vw:label name="a">b</vw:label>`),
			want: map[string]string{"a": "b"}, wantProblems: []string{""}},
		{name: "duplicate keeps first", doc: wrap(`<vw:label name="a">1</vw:label><vw:label name="a">2</vw:label>`),
			want: map[string]string{"a": "1"}, wantProblems: []string{"a"}},
		{name: "foreign and misnamed children ignored", doc: wrap(`<vw:tag name="a">1</vw:tag><tag name="b">2</tag>` +
			`<o:label xmlns:o="urn:other" name="c">3</o:label><vw:label name="d">4</vw:label><label name="e">5</label>`),
			want: map[string]string{"d": "4", "e": "5"}, wantProblems: []string{"", "", ""}},
		{name: "at most MaxLabels", doc: wrap(many.String()), want: wantMany,
			wantProblems: []string{fmt.Sprintf("l%02d", MaxLabels), fmt.Sprintf("l%02d", MaxLabels+1)}},
		{name: "long value cut at a rune boundary", doc: wrap(`<vw:label name="note">` + long + `</vw:label>`),
			want: map[string]string{"note": strings.Repeat("a", MaxLabelValueBytes-1)}, wantProblems: []string{"note"}},
		{name: "root in another namespace", doc: `<x:labels xmlns:x="urn:other"><x:label name="a">b</x:label></x:labels>`,
			wantErr: `namespace "urn:other"`},
		{name: "as libvirt returns it: namespace stripped", doc: "<labels>\n  <label name=\"team\">infra</label>\n  <label name=\"cost-center\">42</label>\n</labels>",
			want: map[string]string{"team": "infra"}, wantProblems: []string{"cost-center"}},
		{name: "root is not labels", doc: `<vw:tags xmlns:vw="` + ns + `"><vw:label name="a">b</vw:label></vw:tags>`, wantErr: "want <labels>"},
		{name: "not xml", doc: `<vw:labels xmlns:vw="` + ns + `"><vw:label`, wantErr: "parse labels metadata"},
		{name: "too large", doc: wrap(strings.Repeat(" ", maxMetadataBytes)), wantErr: "bytes, more than"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, problems, err := ParseLabels(tt.doc, ns)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want it to contain %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			if !maps.Equal(got, tt.want) {
				t.Errorf("labels = %v, want %v", got, tt.want)
			}
			var names []string
			for _, p := range problems {
				if p.Reason == "" {
					t.Errorf("problem for %q has no reason", p.Name)
				}
				names = append(names, p.Name)
			}
			if strings.Join(names, ",") != strings.Join(tt.wantProblems, ",") || len(names) != len(tt.wantProblems) {
				t.Errorf("problems for %q, want %q (%+v)", names, tt.wantProblems, problems)
			}
		})
	}
}
