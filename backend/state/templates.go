package state

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/outpost-panel/outpost/backend/model"
	"github.com/outpost-panel/outpost/backend/store"
)

// UserTemplate is Marzban's user template.
type UserTemplate = store.UserTemplate

// Marzban's bounds on template fields.
const (
	maxTemplateName  = 64
	maxTemplateAffix = 20
)

// TemplateInput is a template create or modify; nil fields are unchanged
// on modify (and zero on create, except Name which is required).
type TemplateInput struct {
	Name           *string
	DataLimit      *int64
	ExpireDuration *int64
	UsernamePrefix *string
	UsernameSuffix *string
	Inbounds       map[string][]string
	// HWIDDeviceLimit: nil unchanged; ClearHWIDDeviceLimit puts the
	// template back on the global default.
	HWIDDeviceLimit      *int64
	ClearHWIDDeviceLimit bool
	// IPLimit is given to users made from the template; ClearIPLimit (an
	// explicit null on modify) puts the template back on the default.
	IPLimit      *int64
	ClearIPLimit bool
	// PerDeviceCredentials is given to users made from the template;
	// ClearPerDeviceCredentials (an explicit null on modify) puts the
	// template back on the global default.
	PerDeviceCredentials      *bool
	ClearPerDeviceCredentials bool
}

func invalidf(format string, a ...any) error {
	return fmt.Errorf("%w: %s", model.ErrInvalid, fmt.Sprintf(format, a...))
}

// validAffix: a prefix or suffix becomes part of a username, so it may hold
// only what a username may.
func validAffix(s string) bool {
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_') {
			return false
		}
	}
	return true
}

// applyTemplate checks in (but its inbounds, see checkTemplateInbounds)
// and writes it over t.
func applyTemplate(t *UserTemplate, in TemplateInput) error {
	if in.Name != nil {
		name := strings.TrimSpace(*in.Name)
		if err := model.CheckText("name", name); err != nil {
			return err
		}
		if name == "" || utf8.RuneCountInString(name) > maxTemplateName {
			return invalidf("name: 1 to %d characters", maxTemplateName)
		}
		t.Name = name
	}
	if in.DataLimit != nil {
		if *in.DataLimit < 0 {
			return invalidf("data_limit: must be 0 (unlimited) or more")
		}
		t.DataLimit = *in.DataLimit
	}
	if in.ExpireDuration != nil {
		if *in.ExpireDuration < 0 {
			return invalidf("expire_duration: must be 0 (never) or more")
		}
		t.ExpireDuration = *in.ExpireDuration
	}
	for _, f := range []struct {
		name string
		in   *string
		dst  **string
	}{{"username_prefix", in.UsernamePrefix, &t.UsernamePrefix}, {"username_suffix", in.UsernameSuffix, &t.UsernameSuffix}} {
		if f.in == nil {
			continue
		}
		v := strings.ToLower(*f.in)
		if len(v) > maxTemplateAffix || !validAffix(v) {
			return invalidf("%s: at most %d of a-z, 0-9 and _", f.name, maxTemplateAffix)
		}
		if v == "" {
			*f.dst = nil
		} else {
			*f.dst = &v
		}
	}
	if in.Inbounds != nil {
		t.Inbounds = in.Inbounds
	}
	if in.ClearHWIDDeviceLimit {
		t.HWIDDeviceLimit = nil
	}
	if in.HWIDDeviceLimit != nil {
		if err := model.CheckInt("hwid_device_limit", "devices", *in.HWIDDeviceLimit); err != nil {
			return err
		}
		v := *in.HWIDDeviceLimit
		t.HWIDDeviceLimit = &v
	}
	if in.ClearIPLimit {
		t.IPLimit = nil
	}
	if in.IPLimit != nil {
		if err := model.CheckInt("ip_limit", "ip_limit", *in.IPLimit); err != nil {
			return err
		}
		v := *in.IPLimit
		t.IPLimit = &v
	}
	if in.ClearPerDeviceCredentials {
		t.PerDeviceCredentials = nil
	}
	if in.PerDeviceCredentials != nil {
		v := *in.PerDeviceCredentials
		t.PerDeviceCredentials = &v
	}
	if t.Name == "" {
		return invalidf("name: required")
	}
	return nil
}

// checkTemplateInbounds accepts only tags of the core config's inbounds of
// the protocol they are listed under (Marzban's rule).
func (s *State) checkTemplateInbounds(ctx context.Context, inbounds map[string][]string) error {
	if inbounds == nil {
		return nil
	}
	all, err := s.Inbounds(ctx)
	if err != nil {
		return fmt.Errorf("reading inbounds: %w", err)
	}
	protoOf := make(map[string]string, len(all))
	for _, ib := range all {
		protoOf[ib.Tag] = ib.Protocol
	}
	for proto, tags := range inbounds {
		if !slices.Contains(model.Protocols, proto) {
			return invalidf("inbounds: unknown protocol %q", proto)
		}
		seen := map[string]bool{}
		for _, tag := range tags {
			if protoOf[tag] != proto {
				return invalidf("inbounds: %s has no inbound %q", proto, tag)
			}
			if seen[tag] {
				return invalidf("inbounds: %q listed twice", tag)
			}
			seen[tag] = true
		}
	}
	return nil
}

// CreateTemplate stores a new template.
func (s *State) CreateTemplate(ctx context.Context, in TemplateInput) (*UserTemplate, error) {
	if err := s.checkTemplateInbounds(ctx, in.Inbounds); err != nil {
		return nil, err
	}
	t := &UserTemplate{Inbounds: map[string][]string{}}
	if err := applyTemplate(t, in); err != nil {
		return nil, err
	}
	if err := s.store.Tx(ctx, func(tx *store.Tx) error {
		if err := tx.CreateTemplate(t); err != nil {
			return err
		}
		return auditRow(tx, "template.create", templateTarget(t.ID), 0, nil, templateAudit(t))
	}); err != nil {
		return nil, err
	}
	return t, nil
}

// Template returns one template.
func (s *State) Template(ctx context.Context, id int64) (*UserTemplate, error) {
	var t *UserTemplate
	err := s.store.Read(ctx, func(tx *store.Tx) (err error) { t, err = tx.TemplateByID(id); return err })
	return t, err
}

// Templates lists templates by id; limit 0 means all.
func (s *State) Templates(ctx context.Context, offset, limit int) ([]UserTemplate, error) {
	var out []UserTemplate
	err := s.store.Read(ctx, func(tx *store.Tx) (err error) { out, err = tx.ListTemplates(offset, limit); return err })
	return out, err
}

// ModifyTemplate changes the fields given.
func (s *State) ModifyTemplate(ctx context.Context, id int64, in TemplateInput) (*UserTemplate, error) {
	// The inbound check reads the core config, outside the write.
	if err := s.checkTemplateInbounds(ctx, in.Inbounds); err != nil {
		return nil, err
	}
	var t *UserTemplate
	err := s.store.Tx(ctx, func(tx *store.Tx) error {
		var err error
		if t, err = tx.TemplateByID(id); err != nil {
			return err
		}
		before := templateAudit(t)
		if err := applyTemplate(t, in); err != nil {
			return err
		}
		if err := tx.UpdateTemplate(t); err != nil {
			return err
		}
		return auditRow(tx, "template.modify", templateTarget(id), 0, before, templateAudit(t))
	})
	if err != nil {
		return nil, err
	}
	return t, nil
}

// DeleteTemplate deletes one template.
func (s *State) DeleteTemplate(ctx context.Context, id int64) error {
	return s.store.Tx(ctx, func(tx *store.Tx) error {
		t, err := tx.TemplateByID(id)
		if err != nil {
			return err
		}
		if err := tx.DeleteTemplate(id); err != nil {
			return err
		}
		return auditRow(tx, "template.delete", templateTarget(id), 0, templateAudit(t), nil)
	})
}
