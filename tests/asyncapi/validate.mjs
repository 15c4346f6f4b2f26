// Parses and validates an AsyncAPI document with the official parser; exits 1 on any error.
import { readFileSync } from 'node:fs';
import { Parser } from '@asyncapi/parser';
const file = process.argv[2];
const parser = new Parser();
const { document, diagnostics } = await parser.parse(readFileSync(file, 'utf8'), { source: file });
const errors = diagnostics.filter((d) => d.severity === 0);
for (const d of diagnostics) {
  const level = ['error', 'warning', 'info', 'hint'][d.severity] ?? d.severity;
  console.log(`  ${level}: ${d.code}: ${d.message} at /${(d.path || []).join('/')}`);
}
if (!document || errors.length) { console.log(`asyncapi parser: ${errors.length} error(s)`); process.exit(1); }
console.log(`asyncapi parser: ok (AsyncAPI ${document.version()}, ${document.messages().length} messages)`);
