package api

import (
	"encoding/base64"
	"errors"
	"fmt"

	"github.com/gofiber/fiber/v2"

	"github.com/outpost-panel/outpost/backend/model"
	"github.com/outpost-panel/outpost/backend/sub"
)

// Hours a client waits between subscription refreshes.
const profileUpdateInterval = "12"

// errNoSubscription is every refusal of /sub/{token}: a bad signature, an
// unknown user and a revoked token look the same, so tokens cannot be probed.
var errNoSubscription = fiber.NewError(fiber.StatusNotFound, "Not Found")

// subscription serves the base64 link list (the universal format; the
// client-specific ones come with the User-Agent routing later).
func (s *server) subscription(c *fiber.Ctx) error {
	username, issuedAt, err := sub.ParseToken(c.Params("token"), s.opts.Secrets.Subscription)
	if err != nil {
		return errNoSubscription
	}
	u, err := s.st.User(c.UserContext(), nil, username)
	if errors.Is(err, model.ErrNotFound) {
		return errNoSubscription
	}
	if err != nil {
		return fmt.Errorf("loading subscription of %q: %w", username, err)
	}
	if !sub.TokenValidFor(issuedAt, u.CreatedAt, u.SubRevokedAt) {
		return errNoSubscription
	}
	inbounds, err := s.st.Inbounds(c.UserContext())
	if err != nil {
		return fmt.Errorf("loading inbounds: %w", err)
	}
	// Marzban records every fetch; a failed write must not cost the client
	// its subscription.
	if err := s.st.TouchSubscription(c.UserContext(), u.ID, c.Get(fiber.HeaderUserAgent)); err != nil {
		s.log.Warn("recording subscription fetch", "user", u.Username, "err", err)
	}
	_, host := s.publicBase(c)
	links := sub.Links(u, inbounds, nil, host)

	c.Set("subscription-userinfo", fmt.Sprintf("upload=0; download=%d; total=%d; expire=%d",
		u.UsedTraffic, max(u.DataLimit, 0), max(u.Expire, 0)))
	c.Set("profile-update-interval", profileUpdateInterval)
	c.Set(fiber.HeaderContentDisposition, `attachment; filename="`+u.Username+`"`)
	c.Set("profile-title", "base64:"+base64.StdEncoding.EncodeToString([]byte(u.Username)))
	c.Set(fiber.HeaderContentType, fiber.MIMETextPlainCharsetUTF8)
	c.Set(fiber.HeaderCacheControl, "no-store")
	return c.SendString(sub.EncodeBase64(links))
}
