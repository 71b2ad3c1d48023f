// Validate AsyncAPI documents with the official parser (@asyncapi/parser), as the AsyncAPI
// tools (generator, studio, cli) read them. Usage: node validate.mjs FILE...
// Prints every diagnostic as one JSON line {file, severity, code, message, path}; exits 1
// when any document has an error, 0 otherwise (warnings are printed, not fatal).
import { readFile } from 'node:fs/promises';
import { Parser, DiagnosticSeverity } from '@asyncapi/parser';

const parser = new Parser();
const names = { [DiagnosticSeverity.Error]: 'error', [DiagnosticSeverity.Warning]: 'warning',
  [DiagnosticSeverity.Information]: 'info', [DiagnosticSeverity.Hint]: 'hint' };
let failed = false;
for (const file of process.argv.slice(2)) {
  const text = await readFile(file, 'utf8');
  const { document, diagnostics } = await parser.parse(text, { source: file });
  for (const d of diagnostics) {
    const severity = names[d.severity] ?? String(d.severity);
    if (d.severity === DiagnosticSeverity.Error) failed = true;
    console.log(JSON.stringify({ file, severity, code: d.code, message: d.message, path: d.path.join('/') }));
  }
  if (!document) failed = true;
  console.log(JSON.stringify({ file, parsed: Boolean(document),
    channels: document ? document.channels().length : 0,
    operations: document ? document.operations().length : 0 }));
}
process.exit(failed ? 1 : 0);
