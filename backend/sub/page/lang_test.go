package page

import (
	"strings"
	"testing"
	"time"
)

func TestLanguage(t *testing.T) {
	long := strings.Repeat("xx-YY;q=0.9, ", 400) // about 5 KB
	cases := []struct{ name, header, want string }{
		{"empty", "", "en"},
		{"persian region", "fa-IR", "fa"},
		{"persian with english fallback", "fa-IR,fa;q=0.9,en-US;q=0.8,en;q=0.7", "fa"},
		{"q-values order", "ru;q=0.9,en;q=0.8", "ru"},
		{"q-values out of order", "en;q=0.5, zh-CN;q=0.9", "zh"},
		{"chinese region", "zh-CN", "zh"},
		{"chinese script", "zh-Hant-TW", "zh"},
		{"underscore locale", "ru_RU", "ru"},
		{"case", "FA-ir", "fa"},
		{"unsupported first", "de-DE,de;q=0.9,ru;q=0.5", "ru"},
		{"tie keeps earlier", "zh;q=0.8,fa;q=0.8", "zh"},
		{"q zero refuses", "fa;q=0,ru;q=0.1", "ru"},
		{"only refused", "fa;q=0", "en"},
		{"wildcard", "*", "en"},
		{"other params", "fa;level=1;q=0.7,ru;q=0.6", "fa"},
		{"spaces", "  ru ;  q=0.4 , fa ; q=0.3", "ru"},
		{"malformed q ignored", "fa;q=high,ru;q=0.2", "ru"},
		{"q above one ignored", "fa;q=1.5,ru;q=0.2", "ru"},
		{"q too precise ignored", "fa;q=0.1234,ru;q=0.1", "ru"},
		{"garbage", "\x00\xff;;;,,,=;q=", "en"},
		{"prefix is not a match", "far,rus,zhx", "en"},
		{"5 KB of noise", long, "en"},
		{"5 KB, match first", "ru," + long, "ru"},
		{"5 KB, match past the bound", long + "fa", "en"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := Language(tc.header); got != tc.want {
				t.Errorf("Language(%.40q) = %q, want %q", tc.header, got, tc.want)
			}
		})
	}
}

// Language runs on every page request with an attacker-chosen header.
func TestLanguageDoesNotAllocate(t *testing.T) {
	h := "fa-IR,fa;q=0.9,en-US;q=0.8,en;q=0.7," + strings.Repeat("xx;q=0.1,", 600)
	if n := testing.AllocsPerRun(50, func() { Language(h) }); n != 0 {
		t.Errorf("Language allocated %v times", n)
	}
}

func TestFormatBytes(t *testing.T) {
	en, ru, fa := catalog["en"], catalog["ru"], catalog["fa"]
	cases := []struct {
		n    int64
		m    *messages
		want string
	}{
		{0, en, "0 B"},
		{-5, en, "0 B"},
		{1023, en, "1023 B"},
		{1024, en, "1 KB"},
		{1536, en, "1.5 KB"},
		{5 << 20, en, "5 MB"},
		{12*gib + gib/2, en, "12.5 GB"},
		{gib + gib/3, en, "1.33 GB"},
		{1 << 40, en, "1 TB"},
		{3 << 50, en, "3072 TB"},
		{12*gib + gib/2, ru, "12,5 ГБ"},
		{700 << 20, fa, "700 مگابایت"},
	}
	for _, tc := range cases {
		if got := formatBytes(tc.n, tc.m); got != tc.want {
			t.Errorf("formatBytes(%d) = %q, want %q", tc.n, got, tc.want)
		}
	}
}

func TestJalali(t *testing.T) {
	cases := []struct {
		date string
		want string
	}{
		{"2024-03-20", "1403/01/01"}, // Nowruz 1403
		{"2025-03-20", "1403/12/30"}, // last day of leap 1403
		{"2025-03-21", "1404/01/01"},
		{"2026-03-21", "1405/01/01"},
		{"2026-11-26", "1405/09/05"},
		{"2023-03-21", "1402/01/01"},
		{"2000-01-01", "1378/10/11"},
	}
	fa := catalog["fa"]
	for _, tc := range cases {
		d, err := time.Parse(time.DateOnly, tc.date)
		if err != nil {
			t.Fatal(err)
		}
		if got := formatDate(d.Add(23*time.Hour), fa); got != tc.want {
			t.Errorf("%s: %s, want %s", tc.date, got, tc.want)
		}
	}
	if got := formatDate(time.Date(1800, 1, 1, 0, 0, 0, 0, time.UTC), fa); got != "1800-01-01" {
		t.Errorf("out-of-range date: %s", got)
	}
}

func TestDaysLeft(t *testing.T) {
	now := testNow
	cases := []struct {
		in   time.Duration
		want int64
	}{
		{-time.Hour, 0}, {0, 0}, {time.Second, 1}, {24 * time.Hour, 1}, {24*time.Hour + time.Second, 2}, {30 * 24 * time.Hour, 30},
	}
	for _, tc := range cases {
		if got := daysLeft(now.Add(tc.in), now); got != tc.want {
			t.Errorf("daysLeft(+%v) = %d, want %d", tc.in, got, tc.want)
		}
	}
}

func TestLinkName(t *testing.T) {
	cases := []struct{ link, want string }{
		{"vless://id@h:1?type=tcp#My%20Server", "My Server"},
		{"trojan://p@h:1#%F0%9F%87%A9%F0%9F%87%AA%20DE", "🇩🇪 DE"},
		{vmessLink("VM ess"), "VM ess"},
		{"vmess://not-base64!", "VMESS"},
		{"ss://abc@h:1", "SS"},
		{"ss://abc@h:1#", "SS"},
		{"vless://x#bad%zzescape", "bad%zzescape"},
		{"vless://x#%ff%fe", "VLESS"},
		{"no scheme at all", "link"},
	}
	for _, tc := range cases {
		if got := linkName(tc.link); got != tc.want {
			t.Errorf("linkName(%.30q) = %q, want %q", tc.link, got, tc.want)
		}
	}
}
