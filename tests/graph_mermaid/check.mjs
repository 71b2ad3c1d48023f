// Parse Mermaid files with the real Mermaid parser; exit 1 if any fails.
// Usage: npm install (here), then node check.mjs FILE...
import { JSDOM } from "jsdom";
import fs from "node:fs";
const dom = new JSDOM("<!doctype html><html><body></body></html>");
globalThis.window = dom.window; globalThis.document = dom.window.document;
try { globalThis.navigator = dom.window.navigator; } catch {}
const { default: mermaid } = await import("mermaid");
mermaid.initialize({ startOnLoad: false });
let bad = 0;
for (const f of process.argv.slice(2)) {
  const text = fs.readFileSync(f, "utf8");
  try { await mermaid.parse(text); console.log("ok", f); }
  catch (e) { bad++; console.log("FAIL", f, String(e.message || e).slice(0, 300)); }
}
process.exit(bad ? 1 : 0);
