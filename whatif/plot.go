package whatif

import (
	"cmp"
	"fmt"
	"image/color"
	"io"
	"math"
	"slices"
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
	"foresight":  {R: 0x94, G: 0x67, B: 0xbd, A: 0xff},
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
	plots := [][]*plot.Plot{{top}, {bottom}}
	tiles := draw.Tiles{Rows: 2, Cols: 1, PadY: vg.Millimeter * 4, PadTop: vg.Millimeter * 2, PadBottom: vg.Millimeter * 2, PadLeft: vg.Millimeter * 2, PadRight: vg.Millimeter * 4}
	return render(w, format, 30*vg.Centimeter, 18*vg.Centimeter, func(dc draw.Canvas) {
		for i, c := range plot.Align(plots, tiles, dc) {
			plots[i][0].Draw(c[0])
		}
	})
}

// render draws onto a canvas of the given size and writes it as format
// "png" or "svg".
func render(w io.Writer, format string, width, height vg.Length, drawOn func(draw.Canvas)) error {
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
	drawOn(draw.New(canvas))
	_, err := canvas.WriteTo(w)
	return err
}

// PlotFrontier draws the Pareto plot of a sweep: each mode's settings as
// pod-hours against minutes short (on a log scale from 0), the settings
// no other of the mode beats on both joined by a line, the SLO's bound as
// a dashed line and each mode's cheapest setting within it ringed.
func PlotFrontier(w io.Writer, format, title string, rows []Row, f *Frontier) error {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = "minutes short of capacity (log scale)"
	p.Y.Label.Text = "pod-hours"
	p.X.Tick.Marker = shortTicks{}
	p.Y.Tick.Marker = countTicks{}
	p.Legend.Top = true
	p.Add(plotter.NewGrid())
	x := func(minutes float64) float64 { return math.Log10(1 + minutes) }
	// Settings far beyond the SLO (a target at which the HPA cannot scale
	// up, say) would squash the rest of the plot into a corner.
	far := math.Inf(1)
	if b := f.Budget.MaxShort; !math.IsInf(b, 0) {
		far = 100 * math.Max(b, 1)
	}
	byMode := map[string][]Row{}
	left := 0
	for _, r := range rows {
		if r.MinutesShort > far {
			left++
			continue
		}
		byMode[r.Mode] = append(byMode[r.Mode], r)
	}
	if left > 0 {
		p.Title.Text += fmt.Sprintf(" (%d settings over %s minutes short not drawn)", left, num(far))
	}
	drawn := 0
	for _, mode := range []string{ModeReactive, ModePredictive, ModeForesight} {
		rs := byMode[mode]
		if len(rs) == 0 {
			continue
		}
		c := modeColors[mode]
		pts := make(plotter.XYs, len(rs))
		for i, r := range rs {
			pts[i] = plotter.XY{X: x(r.MinutesShort), Y: r.PodHours}
		}
		sc, err := plotter.NewScatter(pts)
		if err != nil {
			return err
		}
		sc.GlyphStyle.Color, sc.GlyphStyle.Radius, sc.GlyphStyle.Shape = c, vg.Points(2.5), draw.CircleGlyph{}
		p.Add(sc)
		front, err := plotter.NewLine(pareto(pts))
		if err != nil {
			return err
		}
		front.Color, front.Width = c, vg.Points(1.5)
		p.Add(front)
		p.Legend.Add(mode, front, sc)
		if best, ok := f.Cheapest[mode]; ok {
			ring, err := plotter.NewScatter(plotter.XYs{{X: x(best.MinutesShort), Y: best.PodHours}})
			if err != nil {
				return err
			}
			ring.GlyphStyle.Color, ring.GlyphStyle.Radius, ring.GlyphStyle.Shape = c, vg.Points(7), draw.RingGlyph{}
			p.Add(ring)
		}
		drawn++
	}
	if drawn == 0 {
		return fmt.Errorf("nothing to plot")
	}
	if b := f.Budget.MaxShort; !math.IsInf(b, 0) {
		lo, hi := p.Y.Min, p.Y.Max
		l, err := plotter.NewLine(plotter.XYs{{X: x(b), Y: lo}, {X: x(b), Y: hi}})
		if err != nil {
			return err
		}
		l.Color, l.Width, l.Dashes = demandColor, vg.Points(1), []vg.Length{vg.Points(4), vg.Points(3)}
		p.Add(l)
		p.Legend.Add("SLO: "+num(b)+" min short", l)
	}
	return render(w, format, 24*vg.Centimeter, 16*vg.Centimeter, func(dc draw.Canvas) { p.Draw(dc) })
}

// pareto is the lower-left envelope of pts: sorted by x, each point that
// costs less than every point to its left.
func pareto(pts plotter.XYs) plotter.XYs {
	s := slices.Clone(pts)
	slices.SortFunc(s, func(a, b plotter.XY) int { return cmp.Or(cmp.Compare(a.X, b.X), cmp.Compare(a.Y, b.Y)) })
	var out plotter.XYs
	for _, q := range s {
		if len(out) == 0 || q.Y < out[len(out)-1].Y {
			out = append(out, q)
		}
	}
	return out
}

// shortTicks label the log10(1 + minutes) axis in minutes: 0, 1, 10, ...
type shortTicks struct{}

func (shortTicks) Ticks(lo, hi float64) []plot.Tick {
	var ts []plot.Tick
	for v := 0.0; ; {
		x := math.Log10(1 + v)
		if x > hi {
			break
		}
		if x >= lo {
			ts = append(ts, plot.Tick{Value: x, Label: num(v)})
		}
		if v == 0 {
			v = 1
		} else {
			v *= 10
		}
	}
	return ts
}

// countTicks are the default ticks labelled as counts: 12,500, not 12500.00.
type countTicks struct{}

func (countTicks) Ticks(lo, hi float64) []plot.Tick {
	ts := plot.DefaultTicks{}.Ticks(lo, hi)
	for i := range ts {
		if ts[i].Label != "" {
			ts[i].Label = num(ts[i].Value)
		}
	}
	return ts
}
