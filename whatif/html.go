package whatif

import (
	"encoding/base64"
	"html/template"
	"io"
)

// Figure is a plot embedded in the HTML report.
type Figure struct {
	Caption string
	PNG     []byte
}

// Page is everything the HTML report shows.
type Page struct {
	Title   string
	Command string
	// Params are the replay's settings, in display order.
	Params [][2]string
	// Warnings and Verdict come first: what the operator should know.
	Warnings []string
	Verdict  string
	Rows     []Row
	Oracle   *Result
	// Sweep, if set, is the sweep's comparison.
	Sweep   []Row
	Figures []Figure
	// Files are the other outputs, linked from the report.
	Files []string
}

type htmlTable struct {
	Settings, Drains bool
	Columns          []string
	Lines            []htmlLine
}

type htmlLine struct {
	Setting, Mode, Drain string
	Cells                []string
}

func table(rows []Row, oracle *Result) *htmlTable {
	if len(rows) == 0 {
		return nil
	}
	t := &htmlTable{Settings: hasSettings(rows), Drains: hasDrains(rows), Columns: columns}
	for _, r := range rows {
		t.Lines = append(t.Lines, htmlLine{Setting: r.Setting, Mode: r.Mode, Drain: r.drainName(), Cells: r.cells(oracle)})
	}
	return t
}

var reportTemplate = template.Must(template.New("report").Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{{.Title}}</title>
<style>
body { font-family: sans-serif; margin: 2em; color: #222; }
table { border-collapse: collapse; margin: 1em 0; }
th, td { border: 1px solid #bbb; padding: 0.3em 0.7em; text-align: right; }
th { background: #eee; }
td.mode, td.setting, td.drain { text-align: left; font-weight: bold; }
td.drain { white-space: nowrap; }
code { background: #f4f4f4; padding: 0.1em 0.3em; }
#warnings li { color: #8a4b00; }
#verdict { font-size: 1.1em; max-width: 60em; }
figure { margin: 1.5em 0; }
img { max-width: 100%; border: 1px solid #ddd; }
</style>
</head>
<body>
<h1>{{.Title}}</h1>
{{with .Command}}<p>Command: <code>{{.}}</code></p>{{end}}
{{with .Warnings}}<ul id="warnings">{{range .}}<li>{{.}}</li>{{end}}</ul>{{end}}
{{with .Verdict}}<p id="verdict"><strong>{{.}}</strong></p>{{end}}
{{with .Params}}<table id="params">{{range .}}<tr><th>{{index . 0}}</th><td style="text-align:left">{{index . 1}}</td></tr>{{end}}</table>{{end}}
<h2>Modes</h2>
{{define "table"}}<table class="modes"><tr>{{if .Settings}}<th>setting</th>{{end}}<th>mode</th>{{if .Drains}}<th>drain</th>{{end}}{{range .Columns}}<th>{{.}}</th>{{end}}</tr>
{{range .Lines}}<tr>{{if $.Settings}}<td class="setting">{{.Setting}}</td>{{end}}<td class="mode">{{.Mode}}</td>{{if $.Drains}}<td class="drain">{{.Drain}}</td>{{end}}{{range .Cells}}<td>{{.}}</td>{{end}}</tr>
{{end}}</table>{{end}}
{{with .Main}}<div id="modes">{{template "table" .}}</div>{{end}}
<p>Pod-hours count every pod from creation to end (start-up and draining included); "vs oracle" divides by the
oracle's, the fewest pods that never fall short with perfect foresight. "min short" is the time the ready pods'
capacity was below the offered load, "call-min short" that gap integrated, "worst short" its peak in calls.
"rejected" calls found every ready pod full; "cut" calls were still up when a deleted pod exited. "pod-hours draining" is
the part of the pod-hours of pods deleted and still running, "longest drain" the longest time from a deletion to the pod's
exit. The drain policy is what a deleted pod does, taking no new call: none, exit at once and cut its calls; sleep=G, run
out the grace period G whatever it carries; until-empty=G, exit after its last call, within G.</p>
{{with .SweepTable}}<h2>Sweep</h2><div id="sweep">{{template "table" .}}</div>{{end}}
{{range .Images}}<figure><img src="{{.Data}}" alt="{{.Caption}}"><figcaption>{{.Caption}}</figcaption></figure>
{{end}}
{{with .Files}}<p>Files: {{range .}}<a href="{{.}}">{{.}}</a> {{end}}</p>{{end}}
<p id="images">images not checked</p>
<script>
window.addEventListener("load", function () {
  var imgs = document.querySelectorAll("figure img"), ok = 0;
  imgs.forEach(function (i) { if (i.complete && i.naturalWidth > 0) ok++; });
  document.getElementById("images").textContent = ok + " of " + imgs.length + " images decoded";
});
</script>
</body>
</html>
`))

// WriteHTML writes r as one self-contained HTML page, its plots embedded.
func WriteHTML(w io.Writer, r Page) error {
	type image struct {
		Caption string
		Data    template.URL
	}
	data := struct {
		Page
		Main, SweepTable *htmlTable
		Images           []image
	}{Page: r, Main: table(r.Rows, r.Oracle), SweepTable: table(r.Sweep, r.Oracle)}
	for _, f := range r.Figures {
		// A data URL of our own bytes: safe, and kept whole.
		data.Images = append(data.Images, image{f.Caption, template.URL("data:image/png;base64," + base64.StdEncoding.EncodeToString(f.PNG))})
	}
	return reportTemplate.Execute(w, data)
}
