package whatif

import (
	"bytes"
	"context"
	"image"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gonum.org/v1/plot/plotter"

	"github.com/rtcscale/rtcscale/internal/testenv"
)

// rowsForReport replays a synthetic day in all modes.
func rowsForReport(t *testing.T) ([]Row, *Result) {
	cfg := testConfig(t, daily(2, 100, 3000, 0.5))
	r, err := Replay(context.Background(), cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	pc, fc := foreseen(t, cfg, 3*time.Minute)
	p, err := Replay(context.Background(), pc, fc)
	if err != nil {
		t.Fatal(err)
	}
	o, err := Oracle(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return []Row{{Result: r}, {Result: p}, {Result: o}}, o
}

func TestPlotFormats(t *testing.T) {
	rows, _ := rowsForReport(t)
	var b bytes.Buffer
	if err := Plot(&b, "png", "test", rows, time.Time{}, time.Time{}); err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(&b)
	if err != nil {
		t.Fatal(err)
	}
	// Each mode's colour is drawn somewhere.
	seen := map[[3]uint32]bool{}
	bounds := img.Bounds()
	for y := bounds.Min.Y; y < bounds.Max.Y; y++ {
		for x := bounds.Min.X; x < bounds.Max.X; x++ {
			r, g, b, _ := img.At(x, y).RGBA()
			seen[[3]uint32{r >> 8, g >> 8, b >> 8}] = true
		}
	}
	for _, r := range rows {
		if c := modeColors[r.Mode]; !seen[[3]uint32{uint32(c.R), uint32(c.G), uint32(c.B)}] {
			t.Errorf("no pixel of %s's colour in the plot", r.Mode)
		}
	}
	b.Reset()
	from := start.Add(24 * time.Hour)
	if err := Plot(&b, "svg", "test", rows, from, from.Add(12*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "<svg") {
		t.Fatal("not an SVG")
	}
	if err := Plot(&b, "gif", "test", rows, time.Time{}, time.Time{}); err == nil {
		t.Fatal("gif accepted")
	}
	if err := Plot(&b, "png", "test", nil, time.Time{}, time.Time{}); err == nil {
		t.Fatal("empty plot accepted")
	}
}

func TestThin(t *testing.T) {
	pointsOf := func(n int) plotter.XYs {
		xy := make(plotter.XYs, n)
		for i := range xy {
			xy[i] = plotter.XY{X: float64(i), Y: float64(i)}
		}
		return xy
	}
	// Groups of 3: means 1, 4, 7 and the last point alone.
	if got := thin(pointsOf(10), 4); len(got) != 4 || got[0].Y != 1 || got[2].X != 7 || got[3].Y != 9 {
		t.Fatalf("%v", got)
	}
	if got := thin(pointsOf(3), 4); len(got) != 3 {
		t.Fatalf("%v", got)
	}
}

// TestHTMLReportInChromium renders the report in headless Chromium and
// checks that the table is there and every embedded plot decodes.
func TestHTMLReportInChromium(t *testing.T) {
	chromium := testenv.LookPath(t, "chromium", "chromium")
	rows, o := rowsForReport(t)
	var full, zoom bytes.Buffer
	if err := Plot(&full, "png", "test", rows, time.Time{}, time.Time{}); err != nil {
		t.Fatal(err)
	}
	if err := Plot(&zoom, "png", "zoom", rows, start, start.Add(12*time.Hour)); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	var html bytes.Buffer
	err := WriteHTML(&html, Page{
		Title:   "test <report>",
		Command: "rtcscale whatif --trace x.csv",
		Params:  [][2]string{{"pods", "100 calls"}},
		Rows:    rows,
		Oracle:  o,
		Sweep:   []Row{{Setting: "target=90", Result: rows[0].Result}},
		Figures: []Figure{{"whole", full.Bytes()}, {"zoom", zoom.Bytes()}},
		Files:   []string{"timeline.csv"},
	})
	if err != nil {
		t.Fatal(err)
	}
	page := filepath.Join(dir, "report.html")
	if err := os.WriteFile(page, html.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	common := []string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--user-data-dir=" + filepath.Join(dir, "profile")}
	cmd := exec.CommandContext(ctx, chromium, append(common, "--virtual-time-budget=5000", "--dump-dom", "file://"+page)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	dom, err := cmd.Output()
	if err != nil {
		t.Fatalf("chromium: %v\n%s", err, stderr.String())
	}
	for _, want := range []string{`<table class="modes">`, ">reactive<", ">foresight<", ">oracle<", ">target=90<", "test &lt;report&gt;", "2 of 2 images decoded"} {
		if !bytes.Contains(dom, []byte(want)) {
			t.Errorf("rendered page lacks %q", want)
		}
	}

	// And it paints: a screenshot is not one flat colour.
	shot := filepath.Join(dir, "shot.png")
	cmd = exec.CommandContext(ctx, chromium, append(common, "--window-size=1200,1600", "--screenshot="+shot, "file://"+page)...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("chromium screenshot: %v\n%s", err, out)
	}
	f, err := os.Open(shot)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, _, err := image.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	colours := map[uint32]bool{}
	for y := 0; y < img.Bounds().Dy(); y += 4 {
		for x := 0; x < img.Bounds().Dx(); x += 4 {
			r, g, b, _ := img.At(x, y).RGBA()
			colours[r>>8<<16|g>>8<<8|b>>8] = true
		}
	}
	if len(colours) < 50 {
		t.Fatalf("screenshot has %d colours: blank page?", len(colours))
	}
}
