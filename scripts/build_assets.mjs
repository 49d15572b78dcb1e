// Bundle the tool's third-party JavaScript (installed from the npm registry through
// package-lock.json) into static/build/, which is gitignored and served by WhiteNoise.
// Run by `make setup` as `npm ci && npm run build`.
import { build } from "esbuild";
import { copyFileSync, mkdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const outdir = join(root, "static", "build");
mkdirSync(outdir, { recursive: true });

const entries = {
  sqlconsole: join(root, "sqlconsole", "frontend", "console.js"),
  "erd-elk": join(root, "modelmap", "frontend", "elk.js"),
};

await build({
  entryPoints: entries,
  outdir,
  bundle: true,
  minify: true,
  sourcemap: false,
  format: "iife",
  target: ["es2020"],
  legalComments: "eof",
  logLevel: "info",
});

// ELK's layout code runs in a Web Worker: the already-minified worker script ships as is.
copyFileSync(join(root, "node_modules", "elkjs", "lib", "elk-worker.min.js"), join(outdir, "elk-worker.js"));
