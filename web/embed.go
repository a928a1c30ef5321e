// Package web holds the admin dashboard, a React single-page app built by
// Vite into dist/ and compiled into the panel binary, so a panel install is
// one file with no static directory to ship or keep in step with the API.
//
// dist/ is produced by `make web` (npm run build). A fresh clone contains only
// dist/.gitkeep, which keeps this package compiling before the SPA is built;
// the panel then serves no dashboard but everything else works.
package web

import "embed"

// Dist is the built SPA. Its files sit under "dist/" (use fs.Sub to serve
// them at /dashboard/); "all:" keeps dot files such as .gitkeep, so the
// pattern matches even when nothing has been built yet.
//
//go:embed all:dist
var Dist embed.FS
