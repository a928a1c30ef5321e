package api

import (
	"github.com/gofiber/fiber/v2"

	"github.com/outpost-panel/outpost/backend/model"
	"github.com/outpost-panel/outpost/backend/state"
	"github.com/outpost-panel/outpost/backend/sub"
)

// hostRoutes: the hosts share links point at, per inbound (sudo).
func (s *server) hostRoutes() []route {
	return []route{
		{Method: "GET", Path: "/api/hosts", Auth: authSudo, Handler: s.getHosts, Doc: &routeDoc{
			Summary: "Host list of every inbound, keyed by tag; an inbound without its own list shows the default host", Tag: "hosts",
			Response: typeOf[map[string][]state.Host]()}},
		{Method: "PUT", Path: "/api/hosts", Auth: authSudo, Handler: s.putHosts, Doc: &routeDoc{
			Summary: "Replace every host list: a tag with [] gets no links, a tag left out goes back to the default host", Tag: "hosts",
			Body: typeOf[map[string][]state.Host](), Response: typeOf[map[string][]state.Host](), Errors: []int{400, 422}}},
		{Method: "POST", Path: "/api/hosts/preview", Auth: authSudo, Handler: s.previewHosts, Doc: &routeDoc{
			Summary: "Share links a draft of PUT /api/hosts would give a user (a named one, else a sample user), rendered as subscriptions are; nothing is saved (Outpost)", Tag: "hosts",
			Body: typeOf[hostsPreviewBody](), Response: typeOf[hostsPreviewResponse](), Errors: []int{400, 404, 422}}},
	}
}

// hostsPreviewBody is a hosts draft, the body PUT /api/hosts would take,
// and whose links to show.
type hostsPreviewBody struct {
	Hosts map[string][]state.Host `json:"hosts"`
	// Username names the user whose links to render; empty or left out:
	// a sample user in every inbound.
	Username string `json:"username"`
}

// previewLink is one share link and the inbound it reaches.
type previewLink struct {
	Tag    string `json:"tag"`
	Remark string `json:"remark"`
	Link   string `json:"link"`
}

type hostsPreviewResponse struct {
	Username string        `json:"username"`
	Links    []previewLink `json:"links"`
}

// previewUsername is the sample user's name in previews.
const previewUsername = "sample_user"

// previewUser is a user in every inbound with fixed credentials, 25 GiB of
// 100 GiB used and 30 days left, so every variable shows a value.
func previewUser(now int64) *model.User {
	const gib = 1 << 30
	return &model.User{
		ID: 1, Username: previewUsername, Status: model.StatusActive,
		Proxies: map[string]model.ProxySettings{
			model.ProtoVLESS:       {ID: "0b6e2d3c-5f1a-4c8e-9d2b-7a4f6e8c1d30"},
			model.ProtoVMess:       {ID: "3f9a7c21-8e4b-4d6a-b1c5-2e7d9f0a4b68"},
			model.ProtoTrojan:      {Password: "sample-trojan-password"},
			model.ProtoShadowsocks: {Password: "c2FtcGxlLXNoYWRvd3NvY2tzLWtleS0zMi1ieXRlcyE=", Method: "chacha20-ietf-poly1305"},
		},
		DataLimit: 100 * gib, UsedTraffic: 25 * gib, LifetimeUsedTraffic: 25 * gib,
		Expire: now + 30*24*3600,
	}
}

// previewHosts is POST /api/hosts/preview: the draft is checked as PUT
// /api/hosts checks it (400 for a bad field, nothing saved) and the links
// come from the same renderer as the user's "links" and /sub/ base64
// bodies. Comma lists show their first entry, so the preview does not
// change on every keystroke; subscriptions pick one per fetch.
func (s *server) previewHosts(c *fiber.Ctx) error {
	var body hostsPreviewBody
	if err := decodeJSON(c.Body(), &body); err != nil {
		return err
	}
	if body.Hosts == nil {
		return schemaErrorf("hosts: field required")
	}
	now := s.now()
	u := previewUser(now.Unix())
	if body.Username != "" {
		var err error
		if u, err = s.st.User(c.UserContext(), adminOf(c), body.Username); err != nil {
			return describe(err, userTexts)
		}
	}
	inbounds, hosts, err := s.st.DraftLinkHosts(c.UserContext(), body.Hosts)
	if err != nil {
		return err
	}
	_, address := s.publicBase(c)
	out := hostsPreviewResponse{Username: u.Username, Links: []previewLink{}}
	var w sub.LinkWriter
	var buf []byte
	sub.EachEntry(u, inbounds, hosts, address, sub.Options{Now: now, Rand: func(int) int { return 0 }}, func(e *sub.Entry) {
		buf = w.AppendLink(buf[:0], e)
		out.Links = append(out.Links, previewLink{Tag: e.Tag, Remark: e.Remark, Link: string(buf)})
	})
	return c.JSON(out)
}

// getHosts is GET /api/hosts: every inbound's host list, keyed by tag.
func (s *server) getHosts(c *fiber.Ctx) error {
	hosts, err := s.st.Hosts(c.UserContext())
	if err != nil {
		return err
	}
	return c.JSON(hosts)
}

// putHosts is PUT /api/hosts: the body replaces every explicit host list.
// A tag given an empty list gets no links; an inbound left out goes back to
// the default host. An unknown tag or any bad field refuses the whole body
// (400) and changes nothing.
func (s *server) putHosts(c *fiber.Ctx) error {
	var body map[string][]state.Host
	if err := decodeJSON(c.Body(), &body); err != nil {
		return err
	}
	if err := s.st.SetHosts(c.UserContext(), body); err != nil {
		return err
	}
	s.sub.svc.DropCachedViews()
	return s.getHosts(c)
}
