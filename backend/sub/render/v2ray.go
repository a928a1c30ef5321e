package render

import (
	"encoding/base64"

	"github.com/outpost-panel/outpost/backend/model"
	"github.com/outpost-panel/outpost/backend/sub"
)

// renderV2Ray is standard base64 of the share links joined by "\n".
func renderV2Ray(entries []sub.Entry) []byte {
	var w sub.LinkWriter
	links := make([]byte, 0, 256*len(entries))
	for i := range entries {
		if i > 0 {
			links = append(links, '\n')
		}
		links = w.AppendLink(links, &entries[i])
	}
	return base64.StdEncoding.AppendEncode(make([]byte, 0, base64.StdEncoding.EncodedLen(len(links))), links)
}

// renderOutline is Outline's dynamic access key JSON for the first
// Shadowsocks entry; Outline reads one server per key.
func renderOutline(entries []sub.Entry) ([]byte, error) {
	for i := range entries {
		e := &entries[i]
		if e.Protocol != model.ProtoShadowsocks {
			continue
		}
		b := make([]byte, 0, 160)
		b = append(b, `{"server":`...)
		b = appendJSONString(b, e.Address)
		b = append(b, `,"server_port":`...)
		b = appendInt(b, e.Port)
		b = append(b, `,"password":`...)
		b = appendJSONString(b, e.Password)
		b = append(b, `,"method":`...)
		b = appendJSONString(b, e.Method)
		b = append(b, `}`...)
		return append(b, '\n'), nil
	}
	return nil, ErrNoShadowsocks
}
