package api

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/outpost-panel/outpost/backend/model"
)

// errorBody is every error response: Marzban's {"detail": "..."}. A core
// config refused because of one inbound also names it, so the dashboard
// can point at it.
type errorBody struct {
	Detail  string `json:"detail"`
	Inbound string `json:"inbound,omitempty"` // the tag of the inbound at fault (core config errors)
	Path    string `json:"path,omitempty"`    // where in the config that inbound is: "inbounds[2]"
	// A request refused by a reseller cap (403) names it, its limit and the
	// use the request would have led to.
	Cap     string `json:"cap,omitempty"`
	Limit   *int64 `json:"limit,omitempty"`
	Current *int64 `json:"current,omitempty"`
}

// inboundFault is what the errors of the core config checks
// (xraycore.InboundError, xrayconf.InboundError) have when one inbound is
// at fault.
type inboundFault interface {
	InboundIndex() int
	InboundTag() string
}

// errorBodyOf is the body for err, classified as detail.
func errorBodyOf(detail string, err error) errorBody {
	body := errorBody{Detail: detail}
	var f inboundFault
	if errors.As(err, &f) {
		body.Inbound = f.InboundTag()
		body.Path = fmt.Sprintf("inbounds[%d]", f.InboundIndex())
	}
	var ce *model.CapError
	if errors.As(err, &ce) {
		body.Detail = "Reseller cap reached: " + ce.Error()
		body.Cap, body.Limit, body.Current = ce.Cap, &ce.Limit, &ce.Current
	}
	return body
}

// schemaError is a body or parameter that does not fit the schema (malformed
// JSON, wrong type, unknown field): Marzban (FastAPI) answers those 422,
// keeping 400 for well-formed values the domain refuses.
type schemaError struct{ msg string }

func (e *schemaError) Error() string { return e.msg }

func schemaErrorf(format string, args ...any) error {
	return &schemaError{msg: fmt.Sprintf(format, args...)}
}

// publicError attaches the text a client sees to an error that wraps one of
// model's sentinels; the wrapped error, with its internal context, is what
// gets logged.
type publicError struct {
	err    error
	detail string
}

func (e *publicError) Error() string { return e.err.Error() }
func (e *publicError) Unwrap() error { return e.err }

// describe gives err a client-facing text for each sentinel it may wrap;
// errors wrapping none of them pass through unchanged.
func describe(err error, texts map[error]string) error {
	for sentinel, text := range texts {
		if errors.Is(err, sentinel) {
			return &publicError{err: err, detail: text}
		}
	}
	return err
}

// Default texts, Marzban's where it has one.
var sentinelStatus = []struct {
	sentinel error
	status   int
	detail   string
}{
	{model.ErrUnauthorized, fiber.StatusUnauthorized, "Could not validate credentials"},
	{model.ErrForbidden, fiber.StatusForbidden, "You're not allowed"},
	{model.ErrNotFound, fiber.StatusNotFound, "Not Found"},
	{model.ErrConflict, fiber.StatusConflict, "Already exists"},
	{model.ErrInvalid, fiber.StatusBadRequest, "Invalid value"},
}

// handleError is the one place where errors become status codes.
func (s *server) handleError(c *fiber.Ctx, err error) error {
	status, detail := s.classify(c, err)
	if status == fiber.StatusUnauthorized {
		c.Set(fiber.HeaderWWWAuthenticate, "Bearer")
	}
	if status >= 500 {
		return c.Status(status).JSON(errorBody{Detail: detail})
	}
	return c.Status(status).JSON(errorBodyOf(detail, err))
}

func (s *server) classify(c *fiber.Ctx, err error) (int, string) {
	if errors.Is(err, errPanic) {
		// Logged with its stack by recoverPanics; whatever the panic
		// carried, the client learns nothing of it.
		return fiber.StatusInternalServerError, "Internal server error"
	}
	var se *schemaError
	if errors.As(err, &se) {
		return fiber.StatusUnprocessableEntity, se.msg
	}
	var fe *fiber.Error
	if errors.As(err, &fe) {
		switch fe.Code {
		case fiber.StatusRequestEntityTooLarge:
			return fe.Code, fmt.Sprintf("request body larger than %d bytes", s.opts.BodyLimit)
		case fiber.StatusNotFound:
			return fe.Code, "Not Found"
		}
		msg := fe.Message
		if msg == "" {
			msg = http.StatusText(fe.Code)
		}
		if fe.Code >= 500 {
			s.log.Error("request failed", "request_id", requestID(c), "method", c.Method(), "path", c.Path(), "status", fe.Code, "err", err)
		}
		return fe.Code, msg
	}
	for _, ss := range sentinelStatus {
		if !errors.Is(err, ss.sentinel) {
			continue
		}
		var pe *publicError
		if errors.As(err, &pe) {
			return ss.status, pe.detail
		}
		if ss.sentinel == model.ErrInvalid {
			// Validation messages from state and model are written for the
			// client: "<field>: <what is wrong>".
			if msg := afterSentinel(err, model.ErrInvalid); msg != "" {
				return ss.status, msg
			}
		}
		return ss.status, ss.detail
	}
	s.log.Error("request failed", "request_id", requestID(c), "method", c.Method(), "path", c.Path(), "err", err)
	return fiber.StatusInternalServerError, "Internal server error"
}

// afterSentinel returns what follows the sentinel's text in err's message:
// "invalid: username: too short" and errors.Join(ErrInvalid, msg) both give
// the part after it.
func afterSentinel(err, sentinel error) string {
	msg := err.Error()
	marker := sentinel.Error()
	i := strings.Index(msg, marker)
	if i < 0 {
		return ""
	}
	rest := strings.TrimLeft(msg[i+len(marker):], ":\n ")
	return strings.TrimSpace(rest)
}
