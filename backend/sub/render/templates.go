package render

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"go.yaml.in/yaml/v3"

	"github.com/outpost-panel/outpost/backend/model"
)

// Group and outbound names the renderers generate; template entries with
// these names are replaced.
const (
	clashSelectGroup = "Proxy"
	clashAutoGroup   = "Auto"
	sbSelectTag      = "proxy"
	sbAutoTag        = "auto"
	sbDirectTag      = "direct"
	xrayProxyTag     = "proxy"
	probeURL         = "https://www.gstatic.com/generate_204"
)

// Templates are the skeletons the proxies are filled into. Each part is
// serialized once at load, so a render only writes the user's entries.
type Templates struct {
	// Clash and Clash Meta: the top-level keys kept as written, and the
	// rules (ending with MATCH).
	clash, clashMeta clashSkeleton
	// sing-box: the top-level members but outbounds, and the template's own
	// outbounds other than the generated groups.
	sbMembers, sbOutbounds []byte
	// Xray: the members but remarks and outbounds, and the outbounds after
	// the proxy (direct and block first).
	xrayMembers, xrayOutbounds []byte
}

// Template file names in the data dir.
const (
	ClashTemplateFile     = "clash.yaml"
	ClashMetaTemplateFile = "clash-meta.yaml"
	SingBoxTemplateFile   = "sing-box.json"
	XrayTemplateFile      = "xray.json"
)

type clashSkeleton struct{ head, rules []byte }

// LoadTemplates reads the optional template files of dir. A missing file
// leaves the built-in skeleton; a file that does not parse is an error that
// names it.
func LoadTemplates(dir string) (*Templates, error) {
	t := *builtinTemplates()
	if tc, err := loadClash(filepath.Join(dir, ClashTemplateFile)); err != nil {
		return nil, err
	} else if tc != nil {
		t.clash = *tc
	}
	if tc, err := loadClash(filepath.Join(dir, ClashMetaTemplateFile)); err != nil {
		return nil, err
	} else if tc != nil {
		t.clashMeta = *tc
	}
	if b, err := readOptional(filepath.Join(dir, SingBoxTemplateFile)); err != nil {
		return nil, err
	} else if b != nil {
		if t.sbMembers, t.sbOutbounds, err = parseSingBoxTemplate(b); err != nil {
			return nil, fmt.Errorf("template %s: %w", filepath.Join(dir, SingBoxTemplateFile), err)
		}
	}
	if b, err := readOptional(filepath.Join(dir, XrayTemplateFile)); err != nil {
		return nil, err
	} else if b != nil {
		if t.xrayMembers, t.xrayOutbounds, err = parseXrayTemplate(b); err != nil {
			return nil, fmt.Errorf("template %s: %w", filepath.Join(dir, XrayTemplateFile), err)
		}
	}
	return &t, nil
}

func readOptional(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading template %s: %w", path, err)
	}
	return b, nil
}

func loadClash(path string) (*clashSkeleton, error) {
	b, err := readOptional(path)
	if err != nil || b == nil {
		return nil, err
	}
	s, err := parseClashTemplate(b)
	if err != nil {
		return nil, fmt.Errorf("template %s: %w", path, err)
	}
	return &s, nil
}

func invalid(format string, args ...any) error {
	return errors.Join(model.ErrInvalid, fmt.Errorf(format, args...))
}

// parseClashTemplate splits a Clash config into the part kept as is and its
// rules, which get MATCH,<select group> appended when they lack a MATCH:
// some clients refuse a config without one.
func parseClashTemplate(b []byte) (clashSkeleton, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return clashSkeleton{}, invalid("not valid YAML: %v", err)
	}
	root := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
	if len(doc.Content) > 0 {
		root = doc.Content[0]
	}
	if root.Kind != yaml.MappingNode {
		return clashSkeleton{}, invalid("the top level is not a mapping")
	}
	var rules []string
	kept := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		switch k.Value {
		case "proxies", "proxy-groups":
			continue
		case "rules":
			if err := v.Decode(&rules); err != nil {
				return clashSkeleton{}, invalid("rules must be a list of strings: %v", err)
			}
			continue
		}
		kept.Content = append(kept.Content, k, v)
	}
	if n := len(rules); n == 0 || !strings.HasPrefix(strings.TrimSpace(rules[n-1]), "MATCH,") {
		rules = append(rules, "MATCH,"+clashSelectGroup)
	}
	var s clashSkeleton
	if len(kept.Content) > 0 {
		var buf bytes.Buffer
		enc := yaml.NewEncoder(&buf)
		enc.SetIndent(2)
		if err := enc.Encode(kept); err != nil {
			return s, invalid("re-encoding: %v", err)
		}
		s.head = buf.Bytes()
	}
	r := []byte("rules:\n")
	for _, rule := range rules {
		r = append(r, "  - "...)
		r = appendJSONString(r, rule)
		r = append(r, '\n')
	}
	s.rules = r
	return s, nil
}

// parseSingBoxTemplate keeps every member but outbounds as is, keeps the
// template's outbounds except the generated groups, and routes what no rule
// matches to the selector unless the template says otherwise.
func parseSingBoxTemplate(b []byte) (members, outbounds []byte, err error) {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(b, &top); err != nil {
		return nil, nil, invalid("not a JSON object: %v", err)
	}
	var obs []map[string]json.RawMessage
	if raw, ok := top["outbounds"]; ok {
		if err := json.Unmarshal(raw, &obs); err != nil {
			return nil, nil, invalid("outbounds must be a list of objects: %v", err)
		}
	}
	delete(top, "outbounds")
	route := map[string]json.RawMessage{}
	if raw, ok := top["route"]; ok {
		if err := json.Unmarshal(raw, &route); err != nil {
			return nil, nil, invalid("route must be an object: %v", err)
		}
	}
	if _, ok := route["final"]; !ok {
		route["final"] = json.RawMessage(`"` + sbSelectTag + `"`)
	}
	if top["route"], err = json.Marshal(route); err != nil {
		return nil, nil, err
	}
	members, err = marshalMembers(top)
	if err != nil {
		return nil, nil, err
	}
	hasDirect := false
	for _, ob := range obs {
		var tag string
		_ = json.Unmarshal(ob["tag"], &tag)
		switch tag {
		case sbSelectTag, sbAutoTag:
			continue
		case sbDirectTag:
			hasDirect = true
		}
		raw, err := json.Marshal(ob)
		if err != nil {
			return nil, nil, err
		}
		outbounds = append(append(outbounds, ','), raw...)
	}
	if !hasDirect {
		outbounds = append(outbounds, `,{"type":"direct","tag":"direct"}`...)
	}
	return members, outbounds, nil
}

// parseXrayTemplate keeps every member but remarks and outbounds as is; the
// outbounds after the proxy are direct and block (added when missing), then
// the template's others.
func parseXrayTemplate(b []byte) (members, outbounds []byte, err error) {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(b, &top); err != nil {
		return nil, nil, invalid("not a JSON object: %v", err)
	}
	var obs []map[string]json.RawMessage
	if raw, ok := top["outbounds"]; ok {
		if err := json.Unmarshal(raw, &obs); err != nil {
			return nil, nil, invalid("outbounds must be a list of objects: %v", err)
		}
	}
	delete(top, "outbounds")
	delete(top, "remarks")
	if members, err = marshalMembers(top); err != nil {
		return nil, nil, err
	}
	var direct, block, rest []byte
	for _, ob := range obs {
		var tag string
		_ = json.Unmarshal(ob["tag"], &tag)
		raw, err := json.Marshal(ob)
		if err != nil {
			return nil, nil, err
		}
		switch tag {
		case xrayProxyTag:
			continue
		case "direct":
			direct = raw
		case "block":
			block = raw
		default:
			rest = append(append(rest, ','), raw...)
		}
	}
	if direct == nil {
		direct = []byte(`{"tag":"direct","protocol":"freedom"}`)
	}
	if block == nil {
		block = []byte(`{"tag":"block","protocol":"blackhole"}`)
	}
	outbounds = append(append(append(append([]byte{','}, direct...), ','), block...), rest...)
	return members, outbounds, nil
}

// marshalMembers writes the members of an object without its braces, keys
// sorted: ,"a":1,"b":2 (a leading comma for each).
func marshalMembers(m map[string]json.RawMessage) ([]byte, error) {
	b, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	if len(b) <= 2 {
		return nil, nil
	}
	out := make([]byte, 0, len(b))
	out = append(out, ',')
	return append(out, b[1:len(b)-1]...), nil
}

var builtinTemplates = sync.OnceValue(func() *Templates {
	var t Templates
	var err error
	if t.clash, err = parseClashTemplate([]byte(builtinClash)); err != nil {
		panic("built-in clash template: " + err.Error())
	}
	if t.clashMeta, err = parseClashTemplate([]byte(builtinClashMeta)); err != nil {
		panic("built-in clash-meta template: " + err.Error())
	}
	if t.sbMembers, t.sbOutbounds, err = parseSingBoxTemplate([]byte(builtinSingBox)); err != nil {
		panic("built-in sing-box template: " + err.Error())
	}
	if t.xrayMembers, t.xrayOutbounds, err = parseXrayTemplate([]byte(builtinXray)); err != nil {
		panic("built-in xray template: " + err.Error())
	}
	return &t
})
