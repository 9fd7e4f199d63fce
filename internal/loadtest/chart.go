package main

import (
	"errors"
	"fmt"
	"image/color"
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

// ChartPath is where a report's chart goes: beside it, named after it
// (results.md → results.svg).
func ChartPath(report string) string {
	return strings.TrimSuffix(report, filepath.Ext(report)) + ".svg"
}

// The figure is a legend row above three panels stacked so that their
// load levels line up: 8 inches wide shows unscaled in a README.
const (
	chartWidth   = 8 * vg.Inch
	panelHeight  = 2.8 * vg.Inch
	legendHeight = 0.45 * vg.Inch
	lineWidth    = 1.5 // points
)

// panel is one of the figure's plots: each configuration draws one line
// per metric, the first solid, the second dashed.
type panel struct {
	title, yLabel string
	// log: a log scale, for latencies: the core fallback's attended
	// transfers take a hundred times native Asterisk's.
	log     bool
	metrics []func(RampPoint) float64
}

// rampSeries is one configuration's points, by level.
type rampSeries struct {
	config string
	colour color.Color
	points []RampPoint
}

// WriteChart draws the ramp at path (.svg or .png): blind and attended
// transfer latency (p50 and p99) and Asterisk's and transferd's CPU per
// 1000 transfers against concurrent call scenarios, one colour per
// configuration, a cross where some of a level's calls failed.
func WriteChart(path string, ramp []RampPoint) error {
	if len(ramp) == 0 {
		return errors.New("chart: no load level to draw")
	}
	series := byConfig(ramp)
	panels := []panel{
		{title: "Blind transfer, REFER → final NOTIFY: p50 solid, p99 dashed", yLabel: "ms (log scale)", log: true,
			metrics: []func(RampPoint) float64{
				func(p RampPoint) float64 { return p.BlindP50 },
				func(p RampPoint) float64 { return p.BlindP99 },
			}},
		{title: "Attended transfer, REFER → final NOTIFY: p50 solid, p99 dashed", yLabel: "ms (log scale)", log: true,
			metrics: []func(RampPoint) float64{
				func(p RampPoint) float64 { return p.AttendedP50 },
				func(p RampPoint) float64 { return p.AttendedP99 },
			}},
		{title: "CPU per 1000 transfers: Asterisk solid, transferd dashed", yLabel: "CPU seconds",
			metrics: []func(RampPoint) float64{
				func(p RampPoint) float64 { return p.AsteriskCPU },
				func(p RampPoint) float64 { return p.TransferdCPU },
			}},
	}
	// Both latency panels share one scale, so blind and attended compare
	// at a glance.
	latMin, latMax := logRange(ramp, panels[0].metrics, panels[1].metrics)
	var plots [][]*plot.Plot
	for i, pn := range panels {
		p, err := drawPanel(pn, series, levels(ramp))
		if err != nil {
			return fmt.Errorf("chart: %s: %w", pn.title, err)
		}
		if pn.log {
			p.Y.Min, p.Y.Max = latMin, latMax
		}
		if i == len(panels)-1 {
			p.X.Label.Text = "concurrent call scenarios"
		}
		plots = append(plots, []*plot.Plot{p})
	}

	height := legendHeight + vg.Length(len(panels))*panelHeight
	canvas, err := newChartCanvas(path, chartWidth, height)
	if err != nil {
		return fmt.Errorf("chart %s: %w", path, err)
	}
	dc := draw.New(canvas)
	// A transparent background would put black text on a dark page.
	dc.FillPolygon(color.White, []vg.Point{{X: 0, Y: 0}, {X: chartWidth, Y: 0}, {X: chartWidth, Y: height}, {X: 0, Y: height}})
	drawLegendRow(draw.Crop(dc, 0, 0, height-legendHeight, 0), legendEntries(series, ramp))
	tiles := draw.Tiles{Rows: len(panels), Cols: 1, PadY: 0.15 * vg.Inch, PadLeft: 0.1 * vg.Inch, PadRight: 0.2 * vg.Inch, PadBottom: 0.1 * vg.Inch}
	for i, row := range plot.Align(plots, tiles, draw.Crop(dc, 0, 0, 0, -legendHeight)) {
		plots[i][0].Draw(row[0])
	}

	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("write chart: %w", err)
	}
	if _, err := canvas.WriteTo(f); err != nil {
		f.Close()
		return fmt.Errorf("write chart %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write chart %s: %w", path, err)
	}
	return nil
}

// byConfig groups the points by configuration, in the order the
// configurations first appear (the report's), each sorted by level.
func byConfig(ramp []RampPoint) []rampSeries {
	var series []rampSeries
	for _, p := range ramp {
		i := slices.IndexFunc(series, func(s rampSeries) bool { return s.config == p.Config })
		if i < 0 {
			series = append(series, rampSeries{config: p.Config, colour: configColour(len(series))})
			i = len(series) - 1
		}
		series[i].points = append(series[i].points, p)
	}
	for _, s := range series {
		slices.SortFunc(s.points, func(a, b RampPoint) int { return a.Level - b.Level })
	}
	return series
}

// configColour is the Okabe–Ito palette (told apart with the common
// colour blindnesses), one colour per configuration.
func configColour(i int) color.Color {
	palette := [...]color.RGBA{
		{0x00, 0x72, 0xb2, 0xff}, // blue
		{0xe6, 0x9f, 0x00, 0xff}, // orange
		{0x00, 0x9e, 0x73, 0xff}, // bluish green
		{0xcc, 0x79, 0xa7, 0xff}, // reddish purple
		{0x56, 0xb4, 0xe9, 0xff}, // sky blue
		{0xd5, 0x5e, 0x00, 0xff}, // vermillion
	}
	return palette[i%len(palette)]
}

// levels lists the load levels that ran, in order.
func levels(ramp []RampPoint) []int {
	var ls []int
	for _, p := range ramp {
		ls = append(ls, p.Level)
	}
	slices.Sort(ls)
	return slices.Compact(ls)
}

// drawPanel makes one panel's plot; its axes span every level and,
// on a linear scale, start at zero.
func drawPanel(pn panel, series []rampSeries, levels []int) (*plot.Plot, error) {
	p := plot.New()
	p.Title.Text = pn.title
	p.Title.Padding = 4
	p.Y.Label.Text = pn.yLabel
	p.Add(plotter.NewGrid())
	var ticks []plot.Tick
	for _, l := range levels {
		ticks = append(ticks, plot.Tick{Value: float64(l), Label: strconv.Itoa(l)})
	}
	p.X.Tick.Marker = plot.ConstantTicks(ticks)
	usable := func(v float64) bool { return !math.IsNaN(v) && (!pn.log || v > 0) }
	yMax := 0.0
	for _, s := range series {
		for i, metric := range pn.metrics {
			var line, failed plotter.XYs
			for _, pt := range s.points {
				if v := metric(pt); usable(v) {
					line = append(line, plotter.XY{X: float64(pt.Level), Y: v})
					yMax = max(yMax, v)
					if pt.Failed() {
						failed = append(failed, plotter.XY{X: float64(pt.Level), Y: v})
					}
				}
			}
			if len(line) == 0 {
				continue // e.g. native has no transferd CPU
			}
			l, dots, err := plotter.NewLinePoints(line)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", s.config, err)
			}
			l.Color, l.Width = s.colour, lineWidth
			if i > 0 {
				l.Dashes = []vg.Length{vg.Points(6), vg.Points(3)}
			}
			dots.Color, dots.Shape, dots.Radius = s.colour, draw.CircleGlyph{}, vg.Points(2.5)
			p.Add(l, dots)
			if len(failed) > 0 {
				crosses, err := plotter.NewScatter(failed)
				if err != nil {
					return nil, fmt.Errorf("%s: %w", s.config, err)
				}
				crosses.GlyphStyle = failedGlyph()
				p.Add(crosses)
			}
		}
	}
	p.X.Min, p.X.Max = 0, float64(levels[len(levels)-1])
	if pn.log {
		p.Y.Scale = plot.LogScale{}
		p.Y.Tick.Marker = decadeTicks{}
	} else {
		p.Y.Min, p.Y.Max = 0, max(yMax*1.08, 1)
	}
	return p, nil
}

// logRange spans the metrics' positive values with whole decades, so the
// log axis is labelled at both ends; 1 to 10 ms if none.
func logRange(ramp []RampPoint, metrics ...[]func(RampPoint) float64) (lo, hi float64) {
	lo, hi = math.Inf(1), math.Inf(-1)
	for _, ms := range metrics {
		for _, m := range ms {
			for _, p := range ramp {
				if v := m(p); v > 0 { // NaN is not > 0
					lo, hi = min(lo, v), max(hi, v)
				}
			}
		}
	}
	if math.IsInf(lo, 1) {
		return 1, 10
	}
	lo, hi = math.Pow(10, math.Floor(math.Log10(lo))), math.Pow(10, math.Ceil(math.Log10(hi)))
	if hi <= lo { // every value the same power of ten
		hi = lo * 10
	}
	return lo, hi
}

// decadeTicks labels every power of ten and marks 2…9 times it between.
// plot.LogTicks starts from int(math.Log10(min)), which truncates toward
// zero and loses the first decade below 1 ms.
type decadeTicks struct{}

func (decadeTicks) Ticks(lo, hi float64) []plot.Tick {
	var ticks []plot.Tick
	// Rounded so that Log10's error (log10(0.1) is -0.99…) cannot move a
	// decade.
	for e := math.Floor(math.Log10(lo) + 1e-9); e <= math.Ceil(math.Log10(hi)-1e-9); e++ {
		decade := math.Pow(10, e)
		ticks = append(ticks, plot.Tick{Value: decade, Label: strconv.FormatFloat(decade, 'f', -1, 64)})
		for m := 2.0; m < 10 && m*decade <= hi; m++ {
			ticks = append(ticks, plot.Tick{Value: m * decade})
		}
	}
	return ticks
}

// failedGlyph marks a level where some call scenarios failed.
func failedGlyph() draw.GlyphStyle {
	return draw.GlyphStyle{Color: color.Black, Radius: vg.Points(5), Shape: boldCross{}}
}

// boldCross is draw.CrossGlyph with strokes thick enough to see over a
// line.
type boldCross struct{}

func (boldCross) DrawGlyph(c *draw.Canvas, sty draw.GlyphStyle, pt vg.Point) {
	c.SetLineStyle(draw.LineStyle{Color: sty.Color, Width: vg.Points(1.5)})
	r := sty.Radius / math.Sqrt2
	var p vg.Path
	p.Move(vg.Point{X: pt.X - r, Y: pt.Y - r})
	p.Line(vg.Point{X: pt.X + r, Y: pt.Y + r})
	p.Move(vg.Point{X: pt.X - r, Y: pt.Y + r})
	p.Line(vg.Point{X: pt.X + r, Y: pt.Y - r})
	c.Stroke(p)
}

// legendEntry is one item of the legend row.
type legendEntry struct {
	name   string
	thumbs []plot.Thumbnailer
}

// legendEntries names each configuration with its colour, and the cross
// if some level failed.
func legendEntries(series []rampSeries, ramp []RampPoint) []legendEntry {
	var entries []legendEntry
	for _, s := range series {
		line := &plotter.Line{LineStyle: draw.LineStyle{Color: s.colour, Width: lineWidth}}
		dot := &plotter.Scatter{GlyphStyle: draw.GlyphStyle{Color: s.colour, Shape: draw.CircleGlyph{}, Radius: vg.Points(2.5)}}
		entries = append(entries, legendEntry{s.config, []plot.Thumbnailer{line, dot}})
	}
	if slices.ContainsFunc(ramp, RampPoint.Failed) {
		entries = append(entries, legendEntry{"some calls failed", []plot.Thumbnailer{&plotter.Scatter{GlyphStyle: failedGlyph()}}})
	}
	return entries
}

// drawLegendRow draws the entries side by side, centred in c
// (plot.Legend stacks its entries, which would take a panel's corner).
func drawLegendRow(c draw.Canvas, entries []legendEntry) {
	const gap = 0.3 * vg.Inch
	legends := make([]plot.Legend, len(entries))
	var total vg.Length
	for i, e := range entries {
		legends[i] = plot.NewLegend()
		legends[i].Left, legends[i].Top = true, true
		legends[i].Add(e.name, e.thumbs...)
		total += legends[i].Rectangle(c).Size().X
	}
	total += gap * vg.Length(len(entries)-1)
	x := c.Min.X + (c.Size().X-total)/2
	for _, l := range legends {
		size := l.Rectangle(c).Size()
		l.YOffs = -(c.Size().Y - size.Y) / 2
		area := c
		area.Min.X = x
		l.Draw(area)
		x += size.X + gap
	}
}

// newChartCanvas is a canvas for path's format: SVG, or PNG at twice the
// screen's 72 dpi.
func newChartCanvas(path string, w, h vg.Length) (vg.CanvasWriterTo, error) {
	switch ext := strings.ToLower(filepath.Ext(path)); ext {
	case ".svg":
		return vgsvg.New(w, h), nil
	case ".png":
		return vgimg.PngCanvas{Canvas: vgimg.NewWith(vgimg.UseWH(w, h), vgimg.UseDPI(144))}, nil
	default:
		return nil, fmt.Errorf("want a .svg or .png file, not %q", ext)
	}
}
