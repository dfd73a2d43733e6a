package cli

import (
	"bytes"
	"io"
	"text/tabwriter"
)

// table writes a table of tab-separated cells, aligned in columns two
// spaces apart (flags: tabwriter.AlignRight for numbers), without trailing
// spaces.
type table struct {
	w   io.Writer
	buf bytes.Buffer
	tw  *tabwriter.Writer
}

func newTable(w io.Writer, flags uint) *table {
	t := &table{w: w}
	t.tw = tabwriter.NewWriter(&t.buf, 0, 8, 2, ' ', flags)
	return t
}

// Write takes cells; a line ends with '\n'.
func (t *table) Write(p []byte) (int, error) { return t.tw.Write(p) }

// Flush writes the table out.
func (t *table) Flush() error {
	if err := t.tw.Flush(); err != nil {
		return err
	}
	var out []byte
	for _, l := range bytes.SplitAfter(t.buf.Bytes(), []byte("\n")) {
		nl := bytes.HasSuffix(l, []byte("\n"))
		out = append(out, bytes.TrimRight(l, " \n")...)
		if nl {
			out = append(out, '\n')
		}
	}
	t.buf.Reset()
	_, err := t.w.Write(out)
	return err
}
