package page

import (
	"encoding/base64"
	"encoding/json"
	"net/url"
	"strings"
	"unicode/utf8"
)

// linkName is the label shown above a link: its remark as the client would
// show it, or the protocol when a link carries none.
func linkName(link string) string {
	scheme, rest, found := strings.Cut(link, "://")
	if !found {
		return "link"
	}
	if strings.EqualFold(scheme, "vmess") {
		if name := vmessName(rest); name != "" {
			return name
		}
	} else if i := strings.LastIndexByte(rest, '#'); i >= 0 && i+1 < len(rest) {
		frag := rest[i+1:]
		if dec, err := url.PathUnescape(frag); err == nil {
			frag = dec
		}
		if frag = strings.TrimSpace(frag); frag != "" && utf8.ValidString(frag) {
			return frag
		}
	}
	if scheme == "" || len(scheme) > 16 || strings.ContainsAny(scheme, " /?#") {
		return "link"
	}
	return strings.ToUpper(scheme)
}

// vmessName reads "ps" from a vmess:// link's base64 JSON; clients accept
// both padded and unpadded, standard and URL alphabets, so the page does too.
func vmessName(payload string) string {
	payload = strings.TrimRight(payload, "=")
	var raw []byte
	var err error
	if raw, err = base64.RawStdEncoding.DecodeString(payload); err != nil {
		if raw, err = base64.RawURLEncoding.DecodeString(payload); err != nil {
			return ""
		}
	}
	var v struct {
		PS string `json:"ps"`
	}
	if json.Unmarshal(raw, &v) != nil {
		return ""
	}
	return strings.TrimSpace(v.PS)
}

// app is one "import to app" button.
type app struct {
	Name     string
	Platform string
	build    func(subURL, name string) string
}

// apps lists the deep links whose form each app documents:
//   - v2rayNG: v2rayng://install-config?url=<encoded>, the form Marzban's
//     URL-scheme notes list (newer v2rayNG also has install-sub?url=&name=).
//   - Clash family (Clash for Windows' URL scheme, kept by Clash Verge,
//     FlClash, Clash Meta for Android): clash://install-config?url=<encoded>.
//   - sing-box (SFA/SFI/SFM): sing-box://import-remote-profile?url=<encoded>#<name>.
//   - Hiddify: hiddify://import/<sublink>#<name>, the sublink appended as is
//     in Hiddify's own examples (not percent-encoded).
//   - Streisand: streisand://import/<url>#<name>, likewise unencoded.
var apps = []app{
	{Name: "v2rayNG", Platform: "Android", build: func(u, _ string) string {
		return "v2rayng://install-config?url=" + url.QueryEscape(u)
	}},
	{Name: "Hiddify", Platform: "Android · iOS · Windows · macOS · Linux", build: func(u, name string) string {
		return "hiddify://import/" + u + "#" + url.PathEscape(name)
	}},
	{Name: "sing-box", Platform: "Android · iOS · macOS", build: func(u, name string) string {
		return "sing-box://import-remote-profile?url=" + url.QueryEscape(u) + "#" + url.PathEscape(name)
	}},
	{Name: "Streisand", Platform: "iOS · macOS", build: func(u, name string) string {
		return "streisand://import/" + u + "#" + url.PathEscape(name)
	}},
	{Name: "Clash", Platform: "Clash Verge · FlClash · Clash Meta", build: func(u, _ string) string {
		return "clash://install-config?url=" + url.QueryEscape(u)
	}},
}
