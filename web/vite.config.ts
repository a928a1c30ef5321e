import react from '@vitejs/plugin-react';
import { defineConfig, type Plugin } from 'vite';

// Vite empties dist/ before every build, which would delete the committed
// dist/.gitkeep that lets `go build` embed dist/ on a fresh clone. Emitting it
// as part of the bundle puts it back, so a build never leaves the tree dirty.
function keepDistPlaceholder(): Plugin {
  return {
    name: 'outpost-keep-dist-placeholder',
    apply: 'build',
    generateBundle() {
      this.emitFile({ type: 'asset', fileName: '.gitkeep', source: '' });
    },
  };
}

export default defineConfig({
  // The panel serves the embedded build under /dashboard/.
  base: '/dashboard/',
  plugins: [react(), keepDistPlaceholder()],
  build: {
    outDir: 'dist',
    emptyOutDir: true,
  },
  server: {
    // `npm run dev` talks to a panel started with `make run`.
    proxy: { '/api': 'http://127.0.0.1:8000' },
  },
});
