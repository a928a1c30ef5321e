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

	"github.com/gofiber/fiber/v2"

	"github.com/outpost-panel/outpost/backend/model"
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
	return checkValues(reflect.ValueOf(dst), "")
}

// checkValues is the one check of every value a body carries, after
// decoding: each string (map keys included) is free of control characters
// (model.CheckText), each number lies in the range its field's
// `limit:"<name>"` tag names (model.Ranges), and each date-time in the
// years 1970 to 9999. A value out of range is a 422 naming the field by its
// JSON path. Every numeric field of a body must carry a limit tag
// (TestBodyNumbersHaveRanges).
func checkValues(v reflect.Value, path string) error {
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if v.IsNil() {
			return nil
		}
		return checkValues(v.Elem(), path)
	case reflect.String:
		return asSchemaError(model.CheckText(fieldName(path), v.String()))
	case reflect.Map:
		iter := v.MapRange()
		for iter.Next() {
			key := fmt.Sprint(iter.Key().Interface())
			if err := checkValues(iter.Key(), path+"[key]"); err != nil {
				return err
			}
			if err := checkValues(iter.Value(), joinPath(path, key)); err != nil {
				return err
			}
		}
	case reflect.Slice, reflect.Array:
		if v.Type().Elem().Kind() == reflect.Uint8 {
			return nil // json.RawMessage: accepted and ignored, or checked by its owner
		}
		for i := range v.Len() {
			if err := checkValues(v.Index(i), fmt.Sprintf("%s[%d]", path, i)); err != nil {
				return err
			}
		}
	case reflect.Struct:
		if wt, ok := v.Interface().(wireTime); ok {
			if u := wt.Unix(); u < 0 || u > model.MaxExpire {
				return schemaErrorf("%s: must be a date-time from 1970 to 9999", fieldName(path))
			}
			return nil
		}
		t := v.Type()
		for i := range t.NumField() {
			f := t.Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if f.Anonymous && name == "" && f.Type.Kind() == reflect.Struct {
				// Embedded: its fields are the body's own.
				if err := checkValues(v.Field(i), path); err != nil {
					return err
				}
				continue
			}
			if !f.IsExported() || name == "-" {
				continue
			}
			if name == "" {
				name = f.Name
			}
			fv := v.Field(i)
			for fv.Kind() == reflect.Pointer {
				if fv.IsNil() {
					break
				}
				fv = fv.Elem()
			}
			if fv.Kind() == reflect.Pointer {
				continue
			}
			if rng := f.Tag.Get("limit"); rng != "" {
				var err error
				switch {
				case fv.CanInt():
					err = model.CheckInt(joinPath(path, name), rng, fv.Int())
				case fv.CanFloat():
					err = model.CheckFloat(joinPath(path, name), rng, fv.Float())
				}
				if err != nil {
					return asSchemaError(err)
				}
				continue
			}
			if err := checkValues(fv, joinPath(path, name)); err != nil {
				return err
			}
		}
	}
	return nil
}

func joinPath(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

func fieldName(path string) string {
	if path == "" {
		return "request body"
	}
	return path
}

// asSchemaError turns a model validation error ("invalid: <field>: ...")
// into the 422 of a body field.
func asSchemaError(err error) error {
	if err == nil {
		return nil
	}
	return &schemaError{msg: afterSentinel(err, model.ErrInvalid)}
}

// checkQuery refuses control characters in any query parameter's name or
// value (422), as checkValues does in bodies: PostgreSQL cannot compare a
// NUL, and SQLite would answer the same filter differently. Handlers that
// read the query call it first.
func checkQuery(c *fiber.Ctx) error {
	var err error
	c.Context().QueryArgs().VisitAll(func(k, v []byte) {
		if err == nil {
			if err = model.CheckText("query parameter name", string(k)); err == nil {
				err = model.CheckText(string(k), string(v))
			}
		}
	})
	return asSchemaError(err)
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

// defaultUsageWindow is Marzban's range when start is not given.
const defaultUsageWindow = 30 * 24 * time.Hour

var errBadDates = &publicError{err: fmt.Errorf("%w: bad date range", model.ErrInvalid), detail: "Invalid date range or format"}

// dateRangeQuery documents the two parameters dateRange reads.
func dateRangeQuery(start, end string) []queryParam {
	return []queryParam{
		{Name: start, Type: "string", Description: "date-time like 2026-11-26T01:02:03 (UTC unless a zone is given); default 30 days ago"},
		{Name: end, Type: "string", Description: "date-time; default now"},
	}
}

// dateRange reads two optional ISO 8601 date-time query parameters the way
// Marzban does: a missing start is 30 days ago, a missing end is now; a
// date without a zone is UTC. An unparsable value or an end before the
// start is 400.
func (s *server) dateRange(c *fiber.Ctx, startName, endName string) (start, end time.Time, err error) {
	if err := checkQuery(c); err != nil {
		return time.Time{}, time.Time{}, err
	}
	now := s.now().UTC()
	start, end = now.Add(-defaultUsageWindow), now
	for _, p := range []struct {
		name string
		dst  *time.Time
	}{{startName, &start}, {endName, &end}} {
		raw := strings.TrimSpace(c.Query(p.name))
		if raw == "" {
			continue
		}
		t, ok := parseQueryTime(raw)
		if !ok {
			return time.Time{}, time.Time{}, errBadDates
		}
		*p.dst = t
	}
	if end.Before(start) {
		return time.Time{}, time.Time{}, errBadDates
	}
	return start, end, nil
}

func parseQueryTime(raw string) (time.Time, bool) {
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999", "2006-01-02 15:04:05.999999999",
		"2006-01-02T15:04", "2006-01-02"} {
		if t, err := time.Parse(layout, raw); err == nil {
			return t.UTC(), true
		}
	}
	return time.Time{}, false
}
