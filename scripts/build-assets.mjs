// Builds the worker's static assets into public/ (generated, git-ignored;
// wrangler.toml `[assets]` serves it in front of the worker):
//   public/console/  the device console (console/: Preact, bundled by esbuild)
//   public/docs/scalar.js  Scalar's standalone bundle from node_modules, so /docs
//                          loads nothing from a CDN
// Run by `npm run build`, and before start, dev, test and deploy (npm pre* scripts)
// and by the Node tests that start wrangler dev. Takes well under a second.
import { build } from "esbuild";
import { copyFileSync, mkdirSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";

const root = path.resolve(import.meta.dirname, "..");
const out = path.join(root, "public");
const require = createRequire(import.meta.url);

rmSync(out, { recursive: true, force: true });
mkdirSync(path.join(out, "console"), { recursive: true });
mkdirSync(path.join(out, "docs"), { recursive: true });

await build({
  entryPoints: [path.join(root, "console/src/main.tsx")],
  outfile: path.join(out, "console/app.js"),
  bundle: true,
  format: "esm",
  target: "es2022",
  minify: true,
  sourcemap: "linked",
  jsx: "automatic",
  jsxImportSource: "preact",
  logLevel: "warning",
});
for (const file of ["index.html", "style.css"]) copyFileSync(path.join(root, "console", file), path.join(out, "console", file));

// The package's exports do not list this file: find its entry (dist/index.js) and go from there.
const scalarDist = path.dirname(require.resolve("@scalar/api-reference"));
copyFileSync(path.join(scalarDist, "browser/standalone.js"), path.join(out, "docs/scalar.js"));
console.log("assets built into public/ (console, docs/scalar.js)");
