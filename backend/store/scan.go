package store

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/outpost-panel/outpost/backend/model"
)

var (
	errNotFound = model.ErrNotFound
	errConflict = model.ErrConflict
	errInvalid  = model.ErrInvalid
)

// unixOrNil stores an optional time as Unix seconds or NULL.
func unixOrNil(t *time.Time) any {
	if t == nil {
		return nil
	}
	return t.Unix()
}

func int64OrNil(p *int64) any {
	if p == nil {
		return nil
	}
	return *p
}

func stringOrNil(p *string) any {
	if p == nil {
		return nil
	}
	return *p
}

// idOrNil stores id 0 ("none") as NULL so foreign keys accept it.
func idOrNil(id int64) any {
	if id == 0 {
		return nil
	}
	return id
}

func fromUnix(sec int64) time.Time { return time.Unix(sec, 0).UTC() }

// nowUTC is the default for created_at when the caller leaves it zero,
// truncated to what the database keeps so the struct matches a re-read.
func nowUTC() time.Time { return time.Now().UTC().Truncate(time.Second) }

func hourOf(t time.Time) int64 {
	sec := t.Unix()
	return sec - ((sec%3600)+3600)%3600
}

// optTime scans a nullable Unix-seconds column into a *time.Time.
type optTime struct{ dst **time.Time }

func (o optTime) Scan(src any) error {
	switch v := src.(type) {
	case nil:
		*o.dst = nil
	case int64:
		t := fromUnix(v)
		*o.dst = &t
	default:
		return fmt.Errorf("scanning time: unexpected %T", src)
	}
	return nil
}

// reqTime scans a NOT NULL Unix-seconds column.
type reqTime struct{ dst *time.Time }

func (r reqTime) Scan(src any) error {
	v, ok := src.(int64)
	if !ok {
		return fmt.Errorf("scanning time: unexpected %T", src)
	}
	*r.dst = fromUnix(v)
	return nil
}

// optInt64 scans a nullable integer into a *int64.
type optInt64 struct{ dst **int64 }

func (o optInt64) Scan(src any) error {
	switch v := src.(type) {
	case nil:
		*o.dst = nil
	case int64:
		*o.dst = &v
	default:
		return fmt.Errorf("scanning integer: unexpected %T", src)
	}
	return nil
}

// optString scans a nullable text column into a *string.
type optString struct{ dst **string }

func (o optString) Scan(src any) error {
	switch v := src.(type) {
	case nil:
		*o.dst = nil
	case string:
		*o.dst = &v
	case []byte:
		s := string(v)
		*o.dst = &s
	default:
		return fmt.Errorf("scanning text: unexpected %T", src)
	}
	return nil
}

// zeroID scans a nullable id, NULL becoming 0.
type zeroID struct{ dst *int64 }

func (z zeroID) Scan(src any) error {
	switch v := src.(type) {
	case nil:
		*z.dst = 0
	case int64:
		*z.dst = v
	default:
		return fmt.Errorf("scanning id: unexpected %T", src)
	}
	return nil
}

// args collects query arguments and hands out their placeholders. "$N"
// works on both engines (modernc binds $N to the N-th argument).
type args []any

func (a *args) add(v any) string {
	*a = append(*a, v)
	return "$" + strconv.Itoa(len(*a))
}

// addList returns "($i, $j, ...)" for an IN list.
func (a *args) addList(n int, at func(i int) any) string {
	var b strings.Builder
	b.WriteByte('(')
	for i := range n {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(a.add(at(i)))
	}
	b.WriteByte(')')
	return b.String()
}

// likeContains escapes LIKE wildcards in s and wraps it as a substring
// pattern for "LIKE ... ESCAPE '\'".
func likeContains(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
	return "%" + r.Replace(s) + "%"
}

// placeholders returns "(?, ?), (?, ?), ..." for rows of width columns:
// SQLite's bulk statements use plain "?" because binding "$N" names costs
// a string conversion per argument per parameter.
func placeholders(rows, width int) string {
	var b strings.Builder
	one := "(" + strings.TrimSuffix(strings.Repeat("?, ", width), ", ") + ")"
	b.Grow(rows * (len(one) + 2))
	for i := range rows {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(one)
	}
	return b.String()
}
