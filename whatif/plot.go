package whatif

import (
	"fmt"
	"image/color"
	"io"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
	"gonum.org/v1/plot/vg/vgsvg"
)

// maxPlotPoints bounds the points of a line: a plot is about a thousand
// pixels wide, and rendering months of 30-minute points costs seconds.
const maxPlotPoints = 1000

// thin averages consecutive points in groups so that at most n remain.
func thin(xy plotter.XYs, n int) plotter.XYs {
	per := (len(xy) + n - 1) / n
	if per <= 1 {
		return xy
	}
	out := xy[:0]
	for i := 0; i < len(xy); i += per {
		g := xy[i:min(i+per, len(xy))]
		var m plotter.XY
		for _, p := range g {
			m.X += p.X
			m.Y += p.Y
		}
		m.X /= float64(len(g))
		m.Y /= float64(len(g))
		out = append(out, m)
	}
	return out
}

// modeColors gives each mode the same colour in every plot.
var modeColors = map[string]color.RGBA{
	"reactive":   {R: 0xd6, G: 0x27, B: 0x28, A: 0xff},
	"predictive": {R: 0x1f, G: 0x77, B: 0xb4, A: 0xff},
	"oracle":     {R: 0x2c, G: 0xa0, B: 0x2c, A: 0xff},
}

var demandColor = color.RGBA{R: 0x55, G: 0x55, B: 0x55, A: 0xff}

// Plot draws the demand and each mode's capacity (top) and replicas
// (bottom) over [from, to) (the whole timeline when both are zero) and
// writes it as format "png" or "svg".
func Plot(w io.Writer, format, title string, rows []Row, from, to time.Time) error {
	if len(rows) == 0 {
		return fmt.Errorf("nothing to plot")
	}
	top, bottom := plot.New(), plot.New()
	top.Title.Text = title
	top.Y.Label.Text = "concurrent calls"
	bottom.Y.Label.Text = "replicas"
	for _, p := range []*plot.Plot{top, bottom} {
		p.X.Tick.Marker = plot.TimeTicks{Format: "2006-01-02"}
		p.Legend.Top, p.Legend.Left = true, true
		p.Add(plotter.NewGrid())
	}
	in := func(t time.Time) bool { return from.IsZero() && to.IsZero() || !t.Before(from) && t.Before(to) }
	series := func(r Row, v func(Point) float64) plotter.XYs {
		xy := make(plotter.XYs, 0, len(r.Timeline))
		for _, p := range r.Timeline {
			if in(p.T) {
				xy = append(xy, plotter.XY{X: float64(p.T.Unix()), Y: v(p)})
			}
		}
		return thin(xy, maxPlotPoints)
	}
	// A line goes in short pieces: the PNG rasterizer's cost grows with
	// the square of a path's length.
	line := func(p *plot.Plot, name string, xy plotter.XYs, c color.RGBA, width vg.Length) error {
		const piece = 16
		for i := 0; i == 0 || i < len(xy)-1; i += piece {
			l, err := plotter.NewLine(xy[i:min(i+piece+1, len(xy))])
			if err != nil {
				return err
			}
			l.Color, l.Width = c, width
			p.Add(l)
			if i == 0 {
				p.Legend.Add(name, l)
			}
		}
		return nil
	}
	if err := line(top, "demand", series(rows[0], func(p Point) float64 { return p.Demand }), demandColor, vg.Points(1.5)); err != nil {
		return err
	}
	for _, r := range rows {
		name, c := r.Mode, modeColors[r.Mode]
		if r.Setting != "" {
			name = r.Setting + " " + name
		}
		if err := line(top, name+" capacity", series(r, func(p Point) float64 { return p.Capacity }), c, vg.Points(0.8)); err != nil {
			return err
		}
		if err := line(bottom, name+" replicas", series(r, func(p Point) float64 { return p.Replicas }), c, vg.Points(0.8)); err != nil {
			return err
		}
	}
	width, height := 30*vg.Centimeter, 18*vg.Centimeter
	var canvas interface {
		vg.CanvasSizer
		io.WriterTo
	}
	switch format {
	case "png":
		canvas = vgimg.PngCanvas{Canvas: vgimg.NewWith(vgimg.UseWH(width, height), vgimg.UseDPI(110))}
	case "svg":
		canvas = vgsvg.New(width, height)
	default:
		return fmt.Errorf("plot format %q: want png or svg", format)
	}
	plots := [][]*plot.Plot{{top}, {bottom}}
	tiles := draw.Tiles{Rows: 2, Cols: 1, PadY: vg.Millimeter * 4, PadTop: vg.Millimeter * 2, PadBottom: vg.Millimeter * 2, PadLeft: vg.Millimeter * 2, PadRight: vg.Millimeter * 4}
	dc := draw.New(canvas)
	for i, c := range plot.Align(plots, tiles, dc) {
		plots[i][0].Draw(c[0])
	}
	_, err := canvas.WriteTo(w)
	return err
}
