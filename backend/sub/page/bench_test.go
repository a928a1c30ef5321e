package page

import (
	"io"
	"strconv"
	"testing"
)

// BenchmarkRender is a refresh of a page with 10 links: the QR codes come
// from the cache, so this measures the template and the per-request view.
func BenchmarkRender(b *testing.B) { benchmarkRender(b, 10) }

// BenchmarkRenderNoLinks isolates the fixed cost of the page.
func BenchmarkRenderNoLinks(b *testing.B) { benchmarkRender(b, 0) }

func benchmarkRender(b *testing.B, n int) {
	d := fixtures()["active"]
	d.Lang = "fa"
	d.Links = nil
	for i := 0; i < n; i++ {
		d.Links = append(d.Links, fixtureLinks()[i%4]+"-"+strconv.Itoa(i))
	}
	if err := Render(io.Discard, d); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := Render(io.Discard, d); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkQRSVG is the cost a cache miss adds per link.
func BenchmarkQRSVG(b *testing.B) {
	link := fixtureLinks()[0]
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := qrSVG(link); !ok {
			b.Fatal("did not fit")
		}
	}
}
