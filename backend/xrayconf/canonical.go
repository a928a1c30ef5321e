package xrayconf

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/outpost-panel/outpost/backend/model"
)

// Canonical is the normalized form of a config used to compare two configs:
// comments removed, object keys sorted, no insignificant whitespace, numbers
// kept exactly as written. Two configs with equal canonical forms configure
// Xray the same way, so an edit that only reformats changes nothing on nodes.
func Canonical(configJSON []byte) ([]byte, error) {
	dec := json.NewDecoder(bytes.NewReader(stripComments(configJSON)))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("decoding core config: %w: %w", model.ErrInvalid, err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("decoding core config: %w: data after the top-level value", model.ErrInvalid)
	}
	if _, ok := v.(map[string]any); !ok {
		return nil, fmt.Errorf("decoding core config: %w: the top-level value must be an object", model.ErrInvalid)
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false) // keep "&" and "<" readable; they mean the same to Xray
	if err := enc.Encode(v); err != nil {
		return nil, fmt.Errorf("encoding core config: %w", err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// stripComments blanks out the comments Xray's config reader accepts ("//",
// "/* */" and "#", outside strings) so encoding/json reads what Xray reads.
// Comment bytes become spaces, keeping offsets in error messages right.
func stripComments(b []byte) []byte {
	if bytes.IndexAny(b, "/#") < 0 {
		return b
	}
	out := make([]byte, len(b))
	copy(out, b)
	const (
		content = iota
		inString
		inEscape
		lineComment
		blockComment
	)
	state := content
	for i := 0; i < len(out); i++ {
		c := out[i]
		switch state {
		case content:
			switch {
			case c == '"':
				state = inString
			case c == '#':
				state = lineComment
				out[i] = ' '
			case c == '/' && i+1 < len(out) && out[i+1] == '/':
				state = lineComment
				out[i], out[i+1] = ' ', ' '
				i++
			case c == '/' && i+1 < len(out) && out[i+1] == '*':
				state = blockComment
				out[i], out[i+1] = ' ', ' '
				i++
			}
		case inString:
			switch c {
			case '\\':
				state = inEscape
			case '"':
				state = content
			}
		case inEscape:
			state = inString
		case lineComment:
			if c == '\n' {
				state = content
			} else {
				out[i] = ' '
			}
		case blockComment:
			if c == '*' && i+1 < len(out) && out[i+1] == '/' {
				out[i], out[i+1] = ' ', ' '
				i++
				state = content
			} else if c != '\n' {
				out[i] = ' '
			}
		}
	}
	return out
}
