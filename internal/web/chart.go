package web

import (
	"fmt"
	"github.com/audius-netmon/netmon/internal/lifecycle"
	"html"
	"html/template"
	"math"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/audius-netmon/netmon/internal/report"
)

// maxChartSeries bounds the lines of one chart; the trend's table lists every series.
const maxChartSeries = 8

// point is one value of a chart, labelled by its run; a nil value is a gap.
type point struct {
	label string
	value *float64
}

type series struct {
	name   string
	points []point
}

var chartColors = []string{"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf"}

// lineChart draws series over the same runs as an inline SVG: a line per series with a dot per
// value, the runs along the bottom, the range on the left, and a legend. It is a picture of the
// table beside it, which holds the exact values.
func lineChart(title string, ss []series) template.HTML {
	const w, h, left, right, top, bottom = 640.0, 220.0, 56.0, 12.0, 28.0, 40.0
	lo, hi, n := math.Inf(1), math.Inf(-1), 0
	for _, s := range ss {
		n = max(n, len(s.points))
		for _, p := range s.points {
			if p.value != nil {
				lo, hi = math.Min(lo, *p.value), math.Max(hi, *p.value)
			}
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="chart" role="img" aria-label="%s" viewBox="0 0 %g %g" width="%g" height="%g" xmlns="http://www.w3.org/2000/svg">`,
		html.EscapeString(title), w, h, w, h)
	fmt.Fprintf(&b, `<title>%s</title><text x="%g" y="16" class="ct">%s</text>`, html.EscapeString(title), left, html.EscapeString(title))
	if n == 0 || math.IsInf(lo, 1) {
		fmt.Fprintf(&b, `<text x="%g" y="%g">no values yet</text></svg>`, left, h/2)
		return template.HTML(b.String())
	}
	if lo > 0 {
		lo = 0
	}
	if hi == lo {
		hi = lo + 1
	}
	x := func(i int) float64 {
		if n == 1 {
			return left + (w-left-right)/2
		}
		return left + float64(i)*(w-left-right)/float64(n-1)
	}
	y := func(v float64) float64 { return top + (hi-v)/(hi-lo)*(h-top-bottom) }
	fmt.Fprintf(&b, `<line x1="%g" y1="%g" x2="%g" y2="%g" stroke="#999"/>`, left, y(lo), w-right, y(lo))
	fmt.Fprintf(&b, `<text x="%g" y="%g" text-anchor="end" class="ax">%s</text>`, left-6, y(hi)+4, axisValue(hi))
	fmt.Fprintf(&b, `<text x="%g" y="%g" text-anchor="end" class="ax">%s</text>`, left-6, y(lo)+4, axisValue(lo))
	step := max(1, n/12)
	for i, p := range ss[0].points {
		if i%step == 0 || i == n-1 {
			fmt.Fprintf(&b, `<text x="%g" y="%g" text-anchor="middle" class="ax">%s</text>`, x(i), h-bottom+16, html.EscapeString(p.label))
		}
	}
	for k, s := range ss {
		color := chartColors[k%len(chartColors)]
		var path strings.Builder
		pen := "M"
		for i, p := range s.points {
			if p.value == nil {
				pen = "M"
				continue
			}
			fmt.Fprintf(&path, "%s%.1f %.1f ", pen, x(i), y(*p.value))
			pen = "L"
		}
		fmt.Fprintf(&b, `<path d="%s" fill="none" stroke="%s" stroke-width="2"/>`, strings.TrimSpace(path.String()), color)
		for i, p := range s.points {
			if p.value != nil {
				fmt.Fprintf(&b, `<circle cx="%.1f" cy="%.1f" r="3" fill="%s"><title>run %s: %s</title></circle>`,
					x(i), y(*p.value), color, html.EscapeString(p.label), axisValue(*p.value))
			}
		}
		fmt.Fprintf(&b, `<rect x="%g" y="%g" width="10" height="10" fill="%s"/><text x="%g" y="%g" class="ax">%s</text>`,
			left+float64(k)*150, h-12, color, left+float64(k)*150+14, h-3, html.EscapeString(s.name))
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

func axisValue(v float64) string {
	if v == math.Trunc(v) && math.Abs(v) < 1e15 {
		return strconv.FormatFloat(v, 'f', 0, 64)
	}
	return strconv.FormatFloat(v, 'f', 2, 64)
}

// funcs are the templates' helpers.
var funcs = template.FuncMap{
	"time": func(t any) string {
		switch v := t.(type) {
		case time.Time:
			return v.UTC().Format("2006-01-02 15:04:05 UTC")
		case *time.Time:
			if v != nil {
				return v.UTC().Format("2006-01-02 15:04:05 UTC")
			}
		}
		return "-"
	},
	"pct": func(v *float64) string {
		if v == nil {
			return "-"
		}
		return fmt.Sprintf("%.1f%%", *v*100)
	},
	"num": func(v any) string {
		switch x := v.(type) {
		case *float64:
			if x == nil {
				return "-"
			}
			return axisValue(*x)
		case float64:
			return axisValue(x)
		case *int64:
			if x == nil {
				return "-"
			}
			return strconv.FormatInt(*x, 10)
		case int64:
			return strconv.FormatInt(x, 10)
		}
		return fmt.Sprint(v)
	},
	"secs": func(v *float64) string {
		if v == nil {
			return "-"
		}
		return (time.Duration(*v * float64(time.Second))).Round(time.Millisecond).String()
	},
	"metric": func(m map[string]float64, name string) string {
		v, ok := m[name]
		if !ok {
			return "-"
		}
		return axisValue(v)
	},
	"short":    report.ShortName,
	"labels":   report.LabelText,
	"outcomes": report.Outcomes,
	"endpoint": func(ep string) string {
		if ep == "" {
			return `""`
		}
		return ep
	},
	"category": report.CategoryName,
	"spids": func(vs []*int64) string {
		parts := make([]string, len(vs))
		for i, v := range vs {
			parts[i] = "-"
			if v != nil {
				parts[i] = strconv.FormatInt(*v, 10)
			}
		}
		return strings.Join(parts, " / ")
	},
	"bad":         func(s lifecycle.Status) bool { return s == lifecycle.Failed || s == lifecycle.Incomplete },
	"negative":    func(c *int64) bool { return c != nil && *c < 0 },
	"nodeColumns": func(n lifecycle.Network) any { return report.NodeColumnsOf(n) },
}

// listen listens on addr (tcp).
func listen(addr string) (net.Listener, error) {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen %s: %w", addr, err)
	}
	return l, nil
}
