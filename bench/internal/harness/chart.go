//go:build linux

package harness

import (
	"fmt"
	"image/color"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
	"gonum.org/v1/plot/vg/vgsvg"
)

var kindColors = map[Kind]color.Color{
	KindSharecast:       color.RGBA{R: 0x1f, G: 0x77, B: 0xb4, A: 0xff},
	KindSharecastQueued: color.RGBA{R: 0xff, G: 0x7f, B: 0x0e, A: 0xff},
	KindMcast:           color.RGBA{R: 0x2c, G: 0xa0, B: 0x2c, A: 0xff},
	KindStdlib:          color.RGBA{R: 0xd6, G: 0x27, B: 0x28, A: 0xff},
	KindC:               color.RGBA{A: 0xff},
	KindCMeta:           color.RGBA{R: 0x94, G: 0x67, B: 0xbd, A: 0xff},
	KindHub:             color.RGBA{R: 0x8c, G: 0x56, B: 0x4b, A: 0xff},
}

// writeChart draws two panels against N, one line per receiver: the
// lowest socket's delivery ratio in the max-rate phase (smallest size;
// solid lines one process, dashed N processes), and the lossless rate per
// socket (log scale). The file's extension picks SVG or PNG.
func writeChart(r *Report, path string) error {
	var panels []*plot.Plot
	if sizes := r.sizes(PhaseMax); len(sizes) > 0 {
		p, err := deliveryPanel(r, sizes[0])
		if err != nil {
			return err
		}
		panels = append(panels, p)
	}
	if len(r.Lossless) > 0 {
		p, err := losslessPanel(r)
		if err != nil {
			return err
		}
		panels = append(panels, p)
	}
	if len(panels) == 0 {
		return nil
	}
	w, h := vg.Length(len(panels))*13*vg.Centimeter, 10*vg.Centimeter
	var c draw.Canvas
	var out io.WriterTo
	switch strings.ToLower(filepath.Ext(path)) {
	case ".svg":
		s := vgsvg.New(w, h)
		c, out = draw.New(s), s
	case ".png":
		img := vgimg.New(w, h)
		c, out = draw.New(img), vgimg.PngCanvas{Canvas: img}
	default:
		return fmt.Errorf("chart %s: want .svg or .png", path)
	}
	tiles := draw.Tiles{Rows: 1, Cols: len(panels), PadX: vg.Centimeter, PadLeft: vg.Millimeter * 3,
		PadRight: vg.Millimeter * 3, PadTop: vg.Millimeter * 3, PadBottom: vg.Millimeter * 3}
	for i, p := range panels {
		p.Draw(tiles.At(c, i, 0))
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := out.WriteTo(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func nTicks(ns []int) plot.ConstantTicks {
	var t []plot.Tick
	for _, n := range ns {
		t = append(t, plot.Tick{Value: float64(n), Label: strconv.Itoa(n)})
	}
	return t
}

func addLine(p *plot.Plot, xy plotter.XYs, k Kind, dashed bool, label string) error {
	if len(xy) == 0 {
		return nil
	}
	l, s, err := plotter.NewLinePoints(xy)
	if err != nil {
		return err
	}
	l.Color, s.Color = kindColors[k], kindColors[k]
	l.Width = vg.Points(1.5)
	if dashed {
		l.Dashes = []vg.Length{vg.Points(5), vg.Points(3)}
		s.Shape = draw.BoxGlyph{}
	} else {
		s.Shape = draw.CircleGlyph{}
	}
	s.Radius = vg.Points(2.5)
	p.Add(l, s)
	if label != "" {
		p.Legend.Add(label, l, s)
	}
	return nil
}

func deliveryPanel(r *Report, size int) (*plot.Plot, error) {
	p := plot.New()
	p.Title.Text = fmt.Sprintf("Max-rate mode, %d B: lowest socket's delivery ratio", size)
	p.X.Label.Text = "N sockets"
	p.Y.Label.Text = "delivery ratio (received / sent)"
	p.X.Scale = plot.LogScale{}
	p.Y.Min, p.Y.Max = 0, 1.05
	p.Legend.Top, p.Legend.Left = false, true
	p.Add(plotter.NewGrid())
	for _, mode := range []Mode{ModeProc, ModeProcs} {
		// The legend says which line is which mode; the other panel, or
		// the colours, which receiver.
		l, err := plotter.NewLine(plotter.XYs{{X: 1, Y: 0}, {X: 1, Y: 0}})
		if err != nil {
			return nil, err
		}
		l.Color, l.Width = color.Gray{Y: 0x80}, vg.Points(1.5)
		label := "N sockets in one process"
		if mode == ModeProcs {
			l.Dashes = []vg.Length{vg.Points(5), vg.Points(3)}
			label = "N processes of one socket"
		}
		p.Legend.Add(label, l)
	}
	var ns []int
	for _, mode := range []Mode{ModeProc, ModeProcs} {
		for _, k := range r.kinds() {
			var xy plotter.XYs
			for _, key := range r.keys(PhaseMax, size) {
				// N=1 runs once, as proc, and starts both lines.
				if key.mode != mode && (key.n != 1 || mode != ModeProcs) {
					continue
				}
				v := med(r.find(key, k), (*RunResult).MinRatio)
				if math.IsNaN(v) {
					continue
				}
				xy = append(xy, plotter.XY{X: float64(key.n), Y: v})
				if !slices.Contains(ns, key.n) {
					ns = append(ns, key.n)
				}
			}
			if len(xy) < 2 && mode == ModeProcs {
				continue
			}
			if err := addLine(p, xy, k, mode == ModeProcs, ""); err != nil {
				return nil, err
			}
		}
	}
	p.X.Tick.Marker = nTicks(ns)
	return p, nil
}

func losslessPanel(r *Report) (*plot.Plot, error) {
	mode, size := r.Lossless[0].Mode, r.Lossless[0].Size
	p := plot.New()
	p.Title.Text = fmt.Sprintf("Lossless rate, %d B, %s", size, mode)
	p.X.Label.Text = "N sockets"
	p.Y.Label.Text = "datagrams/s per socket (log)"
	p.X.Scale = plot.LogScale{}
	p.Y.Scale = plot.LogScale{}
	p.Y.Tick.Marker = rateTicks{}
	p.Legend.Top, p.Legend.Left = false, true
	p.Add(plotter.NewGrid())
	var ns []int
	for _, k := range r.kinds() {
		var xy plotter.XYs
		for _, l := range r.Lossless {
			if l.Kind != k || l.Mode != mode || l.Size != size || l.Rate <= 0 {
				continue
			}
			xy = append(xy, plotter.XY{X: float64(l.N), Y: l.Rate})
			if !slices.Contains(ns, l.N) {
				ns = append(ns, l.N)
			}
		}
		if err := addLine(p, xy, k, false, string(k)); err != nil {
			return nil, err
		}
	}
	p.X.Tick.Marker = nTicks(ns)
	return p, nil
}

// rateTicks marks a log axis at 1, 2 and 5 times each power of ten, in the
// tables' k/M notation.
type rateTicks struct{}

// Ticks implements plot.Ticker.
func (rateTicks) Ticks(lo, hi float64) []plot.Tick {
	var t []plot.Tick
	for p := math.Pow(10, math.Floor(math.Log10(math.Max(lo, 1)))); p <= hi; p *= 10 {
		for _, m := range []float64{1, 2, 5} {
			if v := p * m; v >= lo && v <= hi {
				t = append(t, plot.Tick{Value: v, Label: strings.Replace(fmtRate(v), ".0", "", 1)})
			}
		}
	}
	return t
}
