// Package render writes a user's subscription in the format a client
// imports: base64 share links, Xray JSON configs, Clash and Clash Meta YAML,
// sing-box JSON and Outline's JSON key. Every format is written from the same
// sub.Entry values, so what a client cannot express is dropped per format and
// the rest agrees across formats.
package render

import (
	"errors"
	"fmt"
	"time"

	"github.com/outpost-panel/outpost/backend/model"
	"github.com/outpost-panel/outpost/backend/sub"
	"github.com/outpost-panel/outpost/backend/xrayconf"
)

// Format is a subscription output format; its value is the client_type of
// /sub/{token}/{client_type}.
type Format string

const (
	V2Ray     Format = "v2ray"
	V2RayJSON Format = "v2ray-json"
	Clash     Format = "clash"
	ClashMeta Format = "clash-meta"
	SingBox   Format = "sing-box"
	Outline   Format = "outline"
)

// Formats lists every format in a stable order.
var Formats = []Format{V2Ray, V2RayJSON, Clash, ClashMeta, SingBox, Outline}

// ParseFormat reads a client_type path value.
func ParseFormat(s string) (Format, bool) {
	for _, f := range Formats {
		if string(f) == s {
			return f, true
		}
	}
	return "", false
}

// Content types of the formats.
const (
	contentText = "text/plain; charset=utf-8"
	contentJSON = "application/json; charset=utf-8"
	contentYAML = "text/yaml; charset=utf-8"
)

// Input is what a subscription is rendered from.
type Input struct {
	User           *model.User
	Inbounds       []xrayconf.Inbound
	Hosts          map[string][]sub.Host // by inbound tag; a missing tag gets sub.DefaultHost
	DefaultAddress string
	Now            time.Time
	Templates      *Templates // nil: the built-in skeletons
	// Rand returns a number in [0, n) for comma lists, "*" and random
	// User-Agents; nil uses math/rand/v2. Tests fix it.
	Rand func(n int) int
	// DeviceRefused: the fetch came from a device past the user's device
	// limit; it gets the device-limit placeholder instead of entries.
	DeviceRefused bool
}

// ErrNoShadowsocks is returned (wrapping model.ErrNotFound) for the outline
// format when the user has no Shadowsocks entry.
var ErrNoShadowsocks = fmt.Errorf("no shadowsocks access key: %w", model.ErrNotFound)

// Render writes the subscription of in.User in format f.
func Render(f Format, in Input) (body []byte, contentType string, err error) {
	if in.User == nil {
		return nil, "", fmt.Errorf("rendering subscription: no user: %w", model.ErrInvalid)
	}
	if in.Now.IsZero() {
		in.Now = time.Now()
	}
	t := in.Templates
	if t == nil {
		t = builtinTemplates()
	}
	entries := collect(&in)
	switch f {
	case V2Ray:
		return renderV2Ray(entries), contentText, nil
	case V2RayJSON:
		return t.renderXrayJSON(entries), contentJSON, nil
	case Clash:
		return t.renderClash(entries, false), contentYAML, nil
	case ClashMeta:
		return t.renderClash(entries, true), contentYAML, nil
	case SingBox:
		return t.renderSingBox(entries), contentJSON, nil
	case Outline:
		b, err := renderOutline(entries)
		if err != nil {
			return nil, "", err
		}
		return b, contentJSON, nil
	}
	return nil, "", errors.Join(model.ErrInvalid, fmt.Errorf("unknown subscription format %q", f))
}

// collect gathers the user's entries, or the one placeholder entry that
// tells a user who may not connect why.
func collect(in *Input) []sub.Entry {
	u := in.User
	status := u.Status
	if status == model.StatusActive {
		// The review job may not have caught up with an expiry or a limit.
		status = model.ComputeStatus(u, in.Now)
	}
	if e, ok := placeholder(status); ok {
		return []sub.Entry{e}
	}
	if in.DeviceRefused {
		e, _ := placeholder(StatusDeviceLimit)
		return []sub.Entry{e}
	}
	var out []sub.Entry
	sub.EachEntry(u, in.Inbounds, in.Hosts, in.DefaultAddress, sub.Options{Now: in.Now, Rand: in.Rand}, func(e *sub.Entry) {
		if out == nil {
			out = make([]sub.Entry, 0, 16)
		}
		out = append(out, *e)
	})
	return out
}

// Placeholder remarks: a client shows the entry's name, so a user whose
// access is off sees why instead of an import error or an empty list.
var placeholderRemarks = map[model.Status]string{
	model.StatusDisabled: "⛔ Disabled — contact support",
	model.StatusLimited:  "⛔ Data limit reached — contact support",
	model.StatusExpired:  "⛔ Expired — contact support",
	StatusDeviceLimit:    "⛔ Device limit reached — remove a device or contact support",
}

// StatusDeviceLimit is not a user status: it names the placeholder a
// device past the user's device limit gets.
const StatusDeviceLimit model.Status = "device_limit"

// placeholder is a Shadowsocks entry pointing at 127.0.0.1:1: every format
// (even plain Clash and Outline) can express it, and it reaches nothing.
func placeholder(s model.Status) (sub.Entry, bool) {
	remark, ok := placeholderRemarks[s]
	if !ok {
		return sub.Entry{}, false
	}
	return sub.Entry{
		Tag: "status", Protocol: model.ProtoShadowsocks, Remark: remark,
		Address: "127.0.0.1", Port: 1, Network: xrayconf.NetTCP, Security: xrayconf.SecurityNone,
		Method: "chacha20-ietf-poly1305", Password: string(s),
	}, true
}
