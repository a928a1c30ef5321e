package page

import (
	"encoding/xml"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	qrcode "github.com/skip2/go-qrcode"
)

// decodeSVG reads back what svgFromBitmap wrote: the viewBox size and the
// modules the single path covers. It understands only the commands the
// encoder emits (M, m, h) and fails on anything else, so a change of format
// has to come with a change here.
func decodeSVG(t *testing.T, svg string) [][]bool {
	t.Helper()
	var doc struct {
		ViewBox string     `xml:"viewBox,attr"`
		Rects   []struct{} `xml:"rect"`
		Paths   []struct {
			D           string `xml:"d,attr"`
			Stroke      string `xml:"stroke,attr"`
			StrokeWidth string `xml:"stroke-width,attr"`
		} `xml:"path"`
	}
	if err := xml.Unmarshal([]byte(svg), &doc); err != nil {
		t.Fatalf("SVG is not well-formed XML: %v", err)
	}
	if len(doc.Paths) != 1 || len(doc.Rects) != 1 {
		t.Fatalf("want one path and one background rect, got %d paths, %d rects", len(doc.Paths), len(doc.Rects))
	}
	if doc.Paths[0].StrokeWidth != "1" || doc.Paths[0].Stroke != "#000" {
		t.Fatalf("path stroke %q width %q", doc.Paths[0].Stroke, doc.Paths[0].StrokeWidth)
	}
	var x0, y0, w, h int
	if _, err := fmt.Sscanf(doc.ViewBox, "%d %d %d %d", &x0, &y0, &w, &h); err != nil || x0 != 0 || y0 != 0 || w != h {
		t.Fatalf("viewBox %q", doc.ViewBox)
	}
	grid := make([][]bool, h)
	for i := range grid {
		grid[i] = make([]bool, w)
	}
	d := doc.Paths[0].D
	var cx, cy float64
	num := func() float64 {
		i := 0
		for i < len(d) && (d[i] == '-' || d[i] == '.' || d[i] >= '0' && d[i] <= '9') {
			i++
		}
		v, err := strconv.ParseFloat(d[:i], 64)
		if err != nil {
			t.Fatalf("bad number at %q", d)
		}
		d = strings.TrimPrefix(d[i:], " ")
		return v
	}
	for d != "" {
		cmd := d[0]
		d = d[1:]
		switch cmd {
		case 'M':
			cx, cy = num(), num()
		case 'm':
			cx += num()
			cy += num()
		case 'h':
			dx := num()
			if dx <= 0 || cy-float64(int(cy)) != 0.5 {
				t.Fatalf("run of %v at y %v: not a module-aligned rightward run", dx, cy)
			}
			for x := int(cx); x < int(cx+dx); x++ {
				if grid[int(cy)][x] {
					t.Fatalf("module %d,%d drawn twice", x, int(cy))
				}
				grid[int(cy)][x] = true
			}
			cx += dx
		default:
			t.Fatalf("unexpected path command %q", cmd)
		}
	}
	return grid
}

func TestSVGDecodesToTheSameMatrix(t *testing.T) {
	for _, content := range append(fixtureLinks(),
		"a",
		"https://panel.example.com/sub/YWxpY2VfMDEsMTc2NDE1ODQwMA3e1f2a9b0c",
		strings.Repeat("vless://long-link-", 60),
	) {
		t.Run(content[:min(len(content), 20)], func(t *testing.T) {
			svg, ok := qrSVG(content)
			if !ok {
				t.Fatal("content did not fit")
			}
			want, err := qrcode.New(content, qrcode.Medium)
			if err != nil {
				if want, err = qrcode.New(content, qrcode.Low); err != nil {
					t.Fatal(err)
				}
			}
			bitmap := want.Bitmap()
			got := decodeSVG(t, string(svg))
			if len(got) != len(bitmap) {
				t.Fatalf("size %d, bitmap %d", len(got), len(bitmap))
			}
			for y := range bitmap {
				for x := range bitmap[y] {
					if got[y][x] != bitmap[y][x] {
						t.Fatalf("module %d,%d: svg %v, bitmap %v", x, y, got[y][x], bitmap[y][x])
					}
				}
			}
		})
	}
}

func TestQRTooLong(t *testing.T) {
	if _, ok := qrSVG(strings.Repeat("x", 5000)); ok {
		t.Fatal("5000 bytes cannot fit in any QR code")
	}
	d := fixtures()["active"]
	d.Links = []string{"vless://" + strings.Repeat("x", 5000) + "#huge"}
	page := render(t, d)
	if !strings.Contains(page, "Too long for a QR code") {
		t.Error("an unencodable link does not say why it has no QR code")
	}
}

func TestLinkCacheEvictsLeastRecentlyUsed(t *testing.T) {
	c := newLinkCache(3)
	var computed []string
	compute := func(l string) *linkInfo {
		computed = append(computed, l)
		return &linkInfo{name: "n-" + l}
	}
	for _, l := range []string{"a", "b", "c", "a", "d", "b", "a"} {
		if got := c.get(l, compute); got.name != "n-"+l {
			t.Fatalf("get(%q) = %q", l, got.name)
		}
	}
	// a, b, c computed; a hit; d evicts b (least recent); b recomputed,
	// evicting c; a still cached.
	if want := "a b c d b"; strings.Join(computed, " ") != want {
		t.Errorf("computed %q, want %q", strings.Join(computed, " "), want)
	}
	if c.len() != 3 {
		t.Errorf("len %d, want 3", c.len())
	}
}

func TestLinkCacheConcurrent(t *testing.T) {
	c := newLinkCache(16)
	var calls atomic.Int64
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 200; i++ {
				l := strconv.Itoa(i % 32)
				if got := c.get(l, func(l string) *linkInfo { calls.Add(1); return &linkInfo{name: l} }); got.name != l {
					t.Errorf("get(%q) = %q", l, got.name)
					return
				}
			}
		}()
	}
	wg.Wait()
	if c.len() > 16 {
		t.Errorf("cache grew to %d past its bound of 16", c.len())
	}
}

func TestRefreshCostsNoQRWork(t *testing.T) {
	d := fixtures()["active"]
	d.Links = []string{"vless://refresh-test@h:1?encryption=none#cache", "trojan://p@h:2?security=tls#two"}
	render(t, d)
	before := qrEncodes.Load()
	for i := 0; i < 3; i++ {
		render(t, d)
	}
	if n := qrEncodes.Load() - before; n != 0 {
		t.Errorf("refreshing the page encoded %d QR codes, want 0", n)
	}
	d.Links = append(d.Links, "ss://new@h:3#three")
	render(t, d)
	if n := qrEncodes.Load() - before; n != 1 {
		t.Errorf("one new link encoded %d QR codes, want 1", n)
	}
}

// TestConcurrentRender races first renders of the same new links in every
// language (run with -race): fragments are filled lazily and shared, and each
// page must still get its own language's fragment.
func TestConcurrentRender(t *testing.T) {
	d := fixtures()["active"]
	d.Links = []string{"vless://concurrent@h:1?encryption=none#race-1", "trojan://p@h:2?security=tls#race-2"}
	var wg sync.WaitGroup
	pages := make([]string, 4*len(languages))
	for i := range pages {
		wg.Add(1)
		go func() {
			defer wg.Done()
			dd := d
			dd.Lang = languages[i%len(languages)]
			pages[i] = render(t, dd)
		}()
	}
	wg.Wait()
	for i, p := range pages {
		lang := languages[i%len(languages)]
		copyLabel := `aria-label="` + catalog[lang].CopyLabel + `: race-2"`
		if !strings.Contains(p, copyLabel) {
			t.Errorf("%s: page lacks %s", lang, copyLabel)
		}
		if p != pages[i%len(languages)] {
			t.Errorf("%s: concurrent renders of the same data differ", lang)
		}
	}
}
