package farm

import (
	"fmt"
	"image/color"
	"path/filepath"
	"strings"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// generationColors colour the token generations a node served; colours
// repeat every len generations, so neighbours always differ.
var generationColors = []color.Color{
	color.RGBA{0x4e, 0x79, 0xa7, 0xff}, color.RGBA{0xf2, 0x8e, 0x2b, 0xff},
	color.RGBA{0x59, 0xa1, 0x4f, 0xff}, color.RGBA{0xb0, 0x7a, 0xa1, 0xff},
	color.RGBA{0x76, 0xb7, 0xb2, 0xff}, color.RGBA{0xed, 0xc9, 0x48, 0xff},
	color.RGBA{0x9c, 0x75, 0x5f, 0xff}, color.RGBA{0xba, 0xb0, 0xac, 0xff},
}

var (
	faultShade   = color.NRGBA{0xd6, 0x27, 0x28, 0x40}
	failureColor = color.RGBA{0xd6, 0x27, 0x28, 0xff}
	callColor    = color.RGBA{0x20, 0x20, 0x20, 0xff}
)

// WritePlot draws the run's timeline to path (.png or .svg): one lane per
// node coloured by the generation of the token it served, upstream calls
// as ticks on the lane of the node that made them, faults as shaded spans,
// failed business calls as red crosses.
func WritePlot(path string, rep *Report, tl *Timeline) error {
	ext := strings.ToLower(strings.TrimPrefix(filepath.Ext(path), "."))
	if ext != "png" && ext != "svg" {
		return fmt.Errorf("farm: plot %s: the name must end in .png or .svg", path)
	}
	p := plot.New()
	p.Title.Text = fmt.Sprintf("%d nodes x %d workers, lifetime %v, store %s", rep.Nodes, rep.Workers, rep.Lifetime, rep.Cache)
	if len(rep.Faults) > 0 {
		p.Title.Text += "\nfaults: " + strings.Join(rep.Faults, "; ")
	}
	p.X.Label.Text = "time since the start; lanes coloured by the token generation each node served; triangles: upstream calls; crosses: failed calls; shaded: faults"
	p.Y.Label.Text = "node"
	p.Add(&lanes{tl: tl})
	if err := addMarks(p, tl.Calls, callGlyph(), 0); err != nil {
		return err
	}
	if err := addMarks(p, tl.Failures, draw.GlyphStyle{Color: failureColor, Radius: vg.Points(3), Shape: draw.CrossGlyph{}}, 0); err != nil {
		return err
	}
	p.Y.Min, p.Y.Max = -0.6, float64(len(tl.Gens))-0.4
	p.Y.Tick.Marker = nodeTicks(len(tl.Gens))
	p.X.Tick.Marker = secondTicks(rep.Duration)
	height := vg.Length(160+18*min(len(tl.Gens), 60)) * vg.Millimeter / 4
	return p.Save(28*vg.Centimeter, max(height, 10*vg.Centimeter), path)
}

func callGlyph() draw.GlyphStyle {
	return draw.GlyphStyle{Color: callColor, Radius: vg.Points(3), Shape: draw.PyramidGlyph{}}
}

func addMarks(p *plot.Plot, marks []Mark, g draw.GlyphStyle, dy float64) error {
	if len(marks) == 0 {
		return nil
	}
	xys := make(plotter.XYs, len(marks))
	for i, m := range marks {
		xys[i] = plotter.XY{X: m.At.Seconds(), Y: float64(m.Node) + dy}
	}
	s, err := plotter.NewScatter(xys)
	if err != nil {
		return err
	}
	s.GlyphStyle = g
	p.Add(s)
	return nil
}

// lanes draws the generation lanes and the fault spans.
type lanes struct{ tl *Timeline }

func (l *lanes) DataRange() (xmin, xmax, ymin, ymax float64) {
	cols := 0
	if len(l.tl.Gens) > 0 {
		cols = len(l.tl.Gens[0])
	}
	return 0, float64(cols) * l.tl.Step.Seconds(), -0.6, float64(len(l.tl.Gens)) - 0.4
}

func (l *lanes) Plot(c draw.Canvas, p *plot.Plot) {
	trX, trY := p.Transforms(&c)
	step := l.tl.Step.Seconds()
	rect := func(clr color.Color, x0, x1, y0, y1 float64) {
		c.FillPolygon(clr, c.ClipPolygonXY([]vg.Point{
			{X: trX(x0), Y: trY(y0)}, {X: trX(x1), Y: trY(y0)}, {X: trX(x1), Y: trY(y1)}, {X: trX(x0), Y: trY(y1)},
		}))
	}
	for n, row := range l.tl.Gens {
		y0, y1 := float64(n)-0.35, float64(n)+0.35
		for start := 0; start < len(row); {
			end := start
			for end < len(row) && row[end] == row[start] {
				end++
			}
			if g := row[start]; g >= 0 {
				rect(generationColors[g%int64(len(generationColors))], float64(start)*step, float64(end)*step, y0, y1)
			}
			start = end
		}
	}
	label := p.X.Tick.Label
	label.Color = failureColor
	label.XAlign, label.YAlign = 0.1, -1 // just right of the span's start, above the point
	for i, s := range l.tl.Spans {
		y0, y1 := -0.5, float64(len(l.tl.Gens))-0.5
		if s.Node >= 0 {
			y0, y1 = float64(s.Node)-0.5, float64(s.Node)+0.5
		}
		rect(faultShade, s.Start.Seconds(), max(s.End.Seconds(), s.Start.Seconds()+step), y0, y1)
		name, _, _ := strings.Cut(s.Fault, " ")
		// Labels sit at the top, staggered so that neighbours do not overlap.
		pt := vg.Point{X: trX(s.Start.Seconds()), Y: c.Max.Y - vg.Length(i%3)*label.Font.Size*1.2 - label.Font.Size*1.3}
		c.FillText(label, pt, name)
	}
}

// nodeTicks labels the lanes with node numbers, at most about 20 labels.
func nodeTicks(n int) plot.ConstantTicks {
	every := max(1, (n+19)/20)
	var ticks []plot.Tick
	for i := 0; i < n; i++ {
		t := plot.Tick{Value: float64(i)}
		if i%every == 0 {
			t.Label = fmt.Sprint(i)
		}
		ticks = append(ticks, t)
	}
	return ticks
}

// secondTicks marks whole seconds, labelled at a round step.
func secondTicks(d time.Duration) plot.ConstantTicks {
	step := 1
	for _, s := range []int{1, 2, 5, 10, 20, 30, 60, 120, 300, 600, 1200} {
		if step = s; int(d.Seconds())/s <= 12 {
			break
		}
	}
	var ticks []plot.Tick
	for sec := 0; sec <= int(d.Seconds()); sec += step {
		ticks = append(ticks, plot.Tick{Value: float64(sec), Label: fmt.Sprintf("%ds", sec)})
	}
	return ticks
}
