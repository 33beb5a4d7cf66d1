package manpage

import (
	"strings"
	"testing"
)

// Text that roff would read as requests or escapes comes out literal.
func TestWriteEscapes(t *testing.T) {
	p := Page{
		Name: "x", Section: 1, Title: "a test", Source: "x 1.0", Manual: "User Commands",
		Synopsis: []string{"x [-c FILE]"},
		Sections: []Section{{Title: "Description", Parts: []Part{
			{Text: ".TH injected\n'br quoted\nback\\slash and --flag\n\n  indented block\n  .dot kept\nafter"},
			{Tag: "--config FILE", Text: "a flag"},
			{Text: "[a]\nb = 1", Verbatim: true},
		}}},
	}
	var b strings.Builder
	if err := p.Write(&b); err != nil {
		t.Fatal(err)
	}
	got := b.String()
	for _, want := range []string{
		".TH \"X\" 1 \"\" \"x 1.0\" \"User Commands\"\n",
		"x \\- a test\n",
		"x [\\-c FILE]\n",
		"\\&.TH injected\n",
		"\\&'br quoted\n",
		"back\\eslash and \\-\\-flag\n",
		".RS\n.nf\nindented block\n\\&.dot kept\n.fi\n.RE\nafter\n",
		".TP\n\\-\\-config FILE\na flag\n",
		".nf\n[a]\nb = 1\n.fi\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("page lacks %q:\n%s", want, got)
		}
	}
	for _, l := range strings.Split(got, "\n") {
		if strings.HasPrefix(l, ".") {
			switch strings.Fields(l)[0] {
			case ".TH", ".SH", ".PP", ".TP", ".RS", ".RE", ".nf", ".fi", ".sp", ".br":
			default:
				t.Errorf("unexpected request line %q", l)
			}
		}
	}
}
