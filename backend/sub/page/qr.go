package page

import (
	"container/list"
	"html/template"
	"strconv"
	"sync"
	"sync/atomic"

	qrcode "github.com/skip2/go-qrcode"
)

// qrSVG encodes content as a QR code drawn as a single SVG path. Each
// horizontal run of dark modules is one stroked line one module thick, the
// row's first run placed absolutely ("M4 7.5h3") and the rest relative to the
// previous one ("m2 0h5"), which keeps a version-10 code to a few kilobytes
// instead of thousands of rects. The bitmap includes the four-module quiet
// zone, and the white background rectangle keeps it scannable in dark mode.
// ok is false when content does not fit in a QR code at all.
func qrSVG(content string) (svg template.HTML, ok bool) {
	qrEncodes.Add(1)
	code, err := qrcode.New(content, qrcode.Medium)
	if err != nil {
		// Long vmess links can overflow Medium; Low holds about a quarter more.
		if code, err = qrcode.New(content, qrcode.Low); err != nil {
			return "", false
		}
	}
	return template.HTML(svgFromBitmap(code.Bitmap())), true
}

// qrEncodes counts encodings so tests can prove a refresh does none.
var qrEncodes atomic.Int64

func svgFromBitmap(bitmap [][]bool) string {
	n := strconv.Itoa(len(bitmap))
	b := make([]byte, 0, 256+len(bitmap)*len(bitmap)/2)
	b = append(b, `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 `...)
	b = append(b, n...)
	b = append(b, ' ')
	b = append(b, n...)
	b = append(b, `" shape-rendering="crispEdges" aria-hidden="true" focusable="false"><rect width="`...)
	b = append(b, n...)
	b = append(b, `" height="`...)
	b = append(b, n...)
	b = append(b, `" fill="#fff"/><path fill="none" stroke="#000" stroke-width="1" d="`...)
	for y, row := range bitmap {
		end := -1 // x where the previous run on this row ended; -1 before the first
		for x := 0; x < len(row); {
			if !row[x] {
				x++
				continue
			}
			start := x
			for x < len(row) && row[x] {
				x++
			}
			if end < 0 {
				b = append(b, 'M')
				b = strconv.AppendInt(b, int64(start), 10)
				b = append(b, ' ')
				b = strconv.AppendInt(b, int64(y), 10)
				b = append(b, ".5h"...) // the stroke is centred on the line
			} else {
				b = append(b, 'm')
				b = strconv.AppendInt(b, int64(start-end), 10)
				b = append(b, " 0h"...)
			}
			b = strconv.AppendInt(b, int64(x-start), 10)
			end = x
		}
	}
	b = append(b, `"/></svg>`...)
	return string(b)
}

// linkInfo is everything about one link that costs work to compute and
// depends on nothing but the link (and, for the HTML around it, the
// language). It is shared by concurrent requests and never mutated except
// for the lazily filled fragments.
type linkInfo struct {
	qr    template.HTML // empty when the link is too long for a QR code
	name  string
	frags [len(languages)]atomic.Pointer[linkFragment]
}

// linkFragment is the escaped HTML before and after a link's QR code. The
// QR code itself is not copied into it, so a language costs about a
// kilobyte per cached link, not another SVG.
type linkFragment struct{ head, tail template.HTML }

// linkCache is a bounded LRU keyed by link string. Links change only when an
// admin edits hosts or a user's credentials, so a refreshing user costs no QR
// work; the bound keeps memory flat at 100,000 users: an entry is the SVG
// (3-6 KB for typical links) plus about 1 KB per language it was shown in,
// so 4096 entries stay around 30 MB at worst.
type linkCache struct {
	mu    sync.Mutex
	max   int
	order *list.List // front = most recently used; values are *cacheEntry
	items map[string]*list.Element
}

type cacheEntry struct {
	key  string
	info *linkInfo
}

func newLinkCache(max int) *linkCache {
	return &linkCache{max: max, order: list.New(), items: make(map[string]*list.Element, max)}
}

// get returns the cached info for link, computing it outside the lock on a
// miss so one slow encode never blocks other pages.
func (c *linkCache) get(link string, compute func(string) *linkInfo) *linkInfo {
	c.mu.Lock()
	if el, ok := c.items[link]; ok {
		c.order.MoveToFront(el)
		info := el.Value.(*cacheEntry).info
		c.mu.Unlock()
		return info
	}
	c.mu.Unlock()

	info := compute(link)

	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.items[link]; ok { // another request won the race
		c.order.MoveToFront(el)
		return el.Value.(*cacheEntry).info
	}
	c.items[link] = c.order.PushFront(&cacheEntry{key: link, info: info})
	for c.order.Len() > c.max {
		oldest := c.order.Back()
		c.order.Remove(oldest)
		delete(c.items, oldest.Value.(*cacheEntry).key)
	}
	return info
}

func (c *linkCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.order.Len()
}
