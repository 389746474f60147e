// The bundle-size figure: auth + credits (src/index.ts, what an app imports without the UI
// elements) bundled by esbuild, minified, ESM; printed raw and gzip-compressed (level 9).
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";
import { build } from "esbuild";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const limit = 15 * 1024;
const sizes = {};
for (const [name, entry] of [["auth + credits", "src/index.ts"], ["with UI elements", "src/browser.ts"]]) {
  const out = await build({
    entryPoints: [resolve(root, entry)],
    bundle: true,
    format: "esm",
    minify: true,
    target: "es2022",
    platform: "browser",
    write: false,
    legalComments: "none",
  });
  const code = out.outputFiles[0].contents;
  sizes[name] = { minified: code.length, gzip: gzipSync(code, { level: 9 }).length };
  console.log(`${name}: ${code.length} B minified, ${sizes[name].gzip} B gzip`);
}
if (sizes["auth + credits"].gzip > limit) {
  console.error(`auth + credits is over ${limit} B gzip`);
  process.exit(1);
}
