package xraycore

import (
	"encoding/json"
	"fmt"

	"github.com/xtls/xray-core/infra/conf"
)

// InboundError is an invalid config whose fault lies in one inbound: the
// panel points its editor at that inbound. It wraps ErrInvalidConfig, and
// its message names the inbound.
type InboundError struct {
	Index int    // position in the config's "inbounds" array
	Tag   string // the inbound's tag as written; "" when it has none
	Err   error
}

func (e *InboundError) Error() string { return e.Err.Error() }
func (e *InboundError) Unwrap() error { return e.Err }

// InboundIndex and InboundTag let callers find the inbound without
// importing this package (an interface in errors.As).
func (e *InboundError) InboundIndex() int  { return e.Index }
func (e *InboundError) InboundTag() string { return e.Tag }

// inboundInvalid is an InboundError with a message that names the inbound
// by tag (when it has one) and by position.
func inboundInvalid(index int, tag string, format string, args ...any) error {
	where := fmt.Sprintf("inbounds[%d]", index)
	if tag != "" {
		where = fmt.Sprintf("inbound %q (inbounds[%d])", tag, index)
	}
	return &InboundError{Index: index, Tag: tag, Err: invalid("%s: %s", where, fmt.Sprintf(format, args...))}
}

// locateInbound is called when Xray's loader or builder refused the whole
// config (whose message rarely says which inbound, and for a value the
// loader rejects, not even that it was an inbound). It decodes and builds
// each inbound of top on its own, as Xray does inside the whole, and
// answers the first one that fails with that inbound's own error; when
// every inbound passes, the fault is elsewhere and whole is returned as a
// plain invalid config.
func locateInbound(top map[string]any, whole error) error {
	raw, _ := top[findKey(top, "inbounds")].([]any)
	for i, v := range raw {
		obj, ok := v.(map[string]any)
		if !ok {
			return inboundInvalid(i, "", "not an object")
		}
		tag := stringField(obj, "tag")
		b, err := json.Marshal(obj)
		if err != nil {
			return inboundInvalid(i, tag, "encoding: %v", err)
		}
		var ib conf.InboundDetourConfig
		if err := json.Unmarshal(b, &ib); err != nil {
			return inboundInvalid(i, tag, "%v", err)
		}
		if _, err := ib.Build(); err != nil {
			return inboundInvalid(i, tag, "%v", err)
		}
	}
	return invalid("%v", whole)
}
