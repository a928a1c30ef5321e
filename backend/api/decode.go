package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strconv"
	"strings"
	"time"
)

// decodeJSON decodes a request body that must be exactly one JSON object
// matching dst: unknown fields, wrong types and trailing data are schema
// errors (422) naming the field and the expected type.
func decodeJSON(body []byte, dst any) error {
	trimmed := bytes.TrimLeft(body, " \t\r\n")
	if len(trimmed) == 0 {
		return schemaErrorf("request body: a JSON object is required")
	}
	if trimmed[0] != '{' {
		return schemaErrorf("request body: must be a JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(trimmed))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		return describeDecodeError(err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return schemaErrorf("request body: unexpected data after the JSON object")
	}
	return nil
}

func describeDecodeError(err error) error {
	var syntax *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syntax):
		return schemaErrorf("request body: malformed JSON at byte %d: %s", syntax.Offset, syntax.Error())
	case errors.As(err, &typ):
		field := typ.Field
		if field == "" {
			field = "request body"
		}
		return schemaErrorf("%s: expected %s, got %s", field, jsonTypeName(typ.Type), typ.Value)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return schemaErrorf("request body: truncated JSON")
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return schemaErrorf("request body: unknown field %s", strings.TrimPrefix(err.Error(), "json: unknown field "))
	}
	return schemaErrorf("request body: %s", strings.TrimPrefix(err.Error(), "json: "))
}

// jsonTypeName names a Go type the way an API client thinks of it.
func jsonTypeName(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == reflect.TypeFor[time.Time]() || t == reflect.TypeFor[wireTime]() {
		return "a date-time like 2026-11-26T01:02:03"
	}
	switch t.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "an integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "a boolean"
	case reflect.Map, reflect.Struct:
		return "an object"
	case reflect.Slice, reflect.Array:
		return "an array"
	}
	return t.String()
}

// wireTime is a date-time as Marzban writes it: ISO 8601 in UTC without a
// zone ("2026-11-26T01:02:03"). Reading accepts that form, with or without
// fractional seconds or a space for the T, and RFC 3339 with a zone.
type wireTime struct{ time.Time }

const wireTimeLayout = "2006-01-02T15:04:05"

func (t wireTime) MarshalJSON() ([]byte, error) {
	return []byte(`"` + t.UTC().Format(wireTimeLayout) + `"`), nil
}

func (t *wireTime) UnmarshalJSON(b []byte) error {
	s, err := strconv.Unquote(string(b))
	if err != nil {
		return &json.UnmarshalTypeError{Value: jsonValueKind(b), Type: reflect.TypeFor[wireTime]()}
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999", "2006-01-02 15:04:05.999999999"} {
		if v, err := time.Parse(layout, s); err == nil {
			t.Time = v.UTC()
			return nil
		}
	}
	return &json.UnmarshalTypeError{Value: fmt.Sprintf("string %q", truncate(s, 40)), Type: reflect.TypeFor[wireTime]()}
}

func optTime(t *time.Time) *wireTime {
	if t == nil || t.IsZero() {
		return nil
	}
	return &wireTime{*t}
}

// jsonValueKind names the JSON kind of a raw value for error messages.
func jsonValueKind(b []byte) string {
	switch {
	case len(b) == 0:
		return "nothing"
	case b[0] == '"':
		return "string"
	case b[0] == '{':
		return "object"
	case b[0] == '[':
		return "array"
	case b[0] == 't' || b[0] == 'f':
		return "bool"
	case b[0] == 'n':
		return "null"
	}
	return "number"
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
