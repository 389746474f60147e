// After tsc: copy the generated API types next to the emitted declarations, and bundle the
// browser build dist/sellerhub.js (ESM, minified: the SDK and the UI elements in one file).
import { copyFileSync, mkdirSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
mkdirSync(resolve(root, "build/generated"), { recursive: true });
copyFileSync(resolve(root, "src/generated/api.d.ts"), resolve(root, "build/generated/api.d.ts"));
await build({
  entryPoints: [resolve(root, "src/browser.ts")],
  outfile: resolve(root, "dist/sellerhub.js"),
  bundle: true,
  format: "esm",
  minify: true,
  target: "es2022",
  platform: "browser",
  legalComments: "none",
});
console.log("built build/ (ESM + .d.ts) and dist/sellerhub.js");
