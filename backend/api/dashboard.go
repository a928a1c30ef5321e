package api

import (
	"errors"
	"fmt"
	"io/fs"
	"mime"
	"path"
	"strings"

	"github.com/gofiber/fiber/v2"
)

const dashboardPrefix = "/dashboard/"

// dashboardRoutes serves the SPA: real files as they are, any other path
// under /dashboard/ as index.html so the client router can take it. Its
// pages are not part of the API contract: no Doc.
func (s *server) dashboardRoutes() []route {
	return []route{
		{Method: "GET", Path: "/", Auth: authPublic, Handler: toDashboard},
		{Method: "GET", Path: "/dashboard", Auth: authPublic, Handler: s.dashboard},
		{Method: "GET", Path: "/dashboard/*", Auth: authPublic, Handler: s.dashboard},
	}
}

func toDashboard(c *fiber.Ctx) error { return c.Redirect(dashboardPrefix, fiber.StatusFound) }

func (s *server) dashboard(c *fiber.Ctx) error {
	// Routing ignores a trailing slash, so "/dashboard" also lands here for
	// "/dashboard/"; only the bare form is redirected, or it would loop.
	if c.Path() == "/dashboard" {
		return c.Redirect(dashboardPrefix, fiber.StatusFound)
	}
	if s.opts.Dashboard == nil {
		return fiber.ErrNotFound
	}
	name := path.Clean("/" + c.Params("*"))[1:] // no ".." can climb out
	if name != "" && name != "index.html" {
		data, err := fs.ReadFile(s.opts.Dashboard, name)
		switch {
		case err == nil:
			return sendAsset(c, name, data)
		case !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, fs.ErrInvalid) && !isDir(s.opts.Dashboard, name):
			return fmt.Errorf("reading dashboard file %q: %w", name, err)
		}
		// A missing file with an extension is a broken asset reference,
		// not a client route: answering index.html would hand HTML to a
		// <script> tag.
		if path.Ext(name) != "" {
			return fiber.ErrNotFound
		}
	}
	index, err := fs.ReadFile(s.opts.Dashboard, "index.html")
	if errors.Is(err, fs.ErrNotExist) {
		return fiber.ErrNotFound // the SPA was not built into this binary
	}
	if err != nil {
		return fmt.Errorf("reading dashboard index: %w", err)
	}
	// index.html names the current hashed assets; it must be revalidated.
	c.Set(fiber.HeaderCacheControl, "no-cache")
	c.Set(fiber.HeaderContentType, fiber.MIMETextHTMLCharsetUTF8)
	return c.Send(index)
}

func sendAsset(c *fiber.Ctx, name string, data []byte) error {
	ctype := mime.TypeByExtension(path.Ext(name))
	if ctype == "" {
		ctype = fiber.MIMEOctetStream
	}
	c.Set(fiber.HeaderContentType, ctype)
	if strings.HasPrefix(name, "assets/") {
		// Vite puts a content hash in every asset name: a changed file is a
		// new URL, so the old one may be cached for good.
		c.Set(fiber.HeaderCacheControl, "public, max-age=31536000, immutable")
	} else {
		c.Set(fiber.HeaderCacheControl, "no-cache")
	}
	return c.Send(data)
}

func isDir(fsys fs.FS, name string) bool {
	st, err := fs.Stat(fsys, name)
	return err == nil && st.IsDir()
}
