// Part of `npm run build`: bundles the CLI and everything it imports (src/ and node_modules) into
// one CommonJS file, dist/triage.cjs, which bin/triage.js runs through a V8 code cache
// (dist/cache/<command>.v8, written by the first run of each command). Start-up then neither
// resolves nor compiles the ~500 modules of bullmq, ioredis, ssh2, zod and yaml one by one:
// `triage run` on 20 hosts went from 1.65 s to 1.2 s wall on 2 cores (see BENCHMARKS.md).
// Modules in the bundle still run only when first required; telegraf and Bolt are not in it at
// all (see `external`). With TRIAGE_IMPORTS_FILE set, every bundled module that runs is appended to that
// file as `bundle:/<path>` (test/cli/module-graph.test.ts checks what each command loads).
//   node bin/bundle.js <root>
import { readFile, writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { build } from 'esbuild';

const root = process.argv[2];
const src = join(root, 'src');
const out = join(root, 'dist/triage.cjs');

/** import.meta.url of a source file, as the file's place in dist/ (where tsc put it and its data files are). */
const importMeta = {
  name: 'import-meta-url',
  setup(b) {
    b.onLoad({ filter: /\.ts$/ }, async (args) => {
      let text = await readFile(args.path, 'utf8');
      if (text.includes('import.meta.url')) {
        const rel = relative(src, args.path).replace(/\.ts$/, '.js');
        text = text.replaceAll('import.meta.url', `require('node:url').pathToFileURL(require('node:path').join(__dirname, ${JSON.stringify(rel)})).href`);
      }
      return { contents: text, loader: 'ts' };
    });
  },
};

await build({
  entryPoints: [join(src, 'cli.ts')],
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node20',
  outfile: out,
  // Native add-ons stay out: each package falls back to JavaScript without them. So do the chat
  // libraries (a third of the bytes, with undici, iconv-lite and friends): only `triage bot` uses
  // them, and it loads them from node_modules; every other command reads a smaller file.
  external: ['*.node', 'cpu-features', 'msgpackr-extract', 'telegraf', 'telegraf/*', '@slack/*'],
  plugins: [importMeta],
  legalComments: 'none',
  // Pure ASCII (bin/triage.js reads it as latin1: no UTF-8 decoding of megabytes at every start),
  // and no comments or indentation: half the bytes to read.
  charset: 'ascii',
  minifyWhitespace: true,
  logLevel: 'error',
});

// esbuild's lazy module wrappers, told to report each module the first time it runs.
let code = await readFile(out, 'utf8');
const trace = `var __triageTrace=process.env.TRIAGE_IMPORTS_FILE?((f,fs)=>(n)=>fs.appendFileSync(f,"bundle:/"+n+"\\n"))(process.env.TRIAGE_IMPORTS_FILE,require("fs")):undefined;`;
const wrappers = [
  [/var __commonJS=\(([a-z]+),([a-z]+)\)=>function __require\(\)\{/, (cb, mod) => `if(!${mod}&&__triageTrace)__triageTrace(__getOwnPropNames(${cb})[0]);`],
  [/var __esm=\(([a-z]+),([a-z]+)(?:,[a-z]+)?\)=>function __init\(\)\{/, (fn) => `if(${fn}&&__triageTrace)__triageTrace(__getOwnPropNames(${fn})[0]);`],
];
for (const [from, line] of wrappers) {
  const m = from.exec(code);
  if (!m) throw new Error(`triage bundle: esbuild's module wrapper changed (${from}); update bin/bundle.js`);
  code = code.slice(0, m.index + m[0].length) + line(m[1], m[2]) + code.slice(m.index + m[0].length);
}
// The chat libraries, required from node_modules, are reported as they load too.
code = code.replace(/require\("(telegraf|@slack\/[a-z-]+)((?:\/[^"]*)?)"\)/g, (m, pkg, sub) => `(__triageTrace&&__triageTrace("node_modules/${pkg}${sub || '/'}"),${m})`);
// esbuild leaves non-ASCII in regular expressions: escape it (same meaning in strings, regexes
// and identifiers), unless it follows a backslash, where the escape would change its meaning.
if (/\\[^\x00-\x7f]/.test(code)) throw new Error('triage bundle: a non-ASCII character after a backslash; cannot make the bundle ASCII');
code = code.replace(/[^\x00-\x7f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
const firstDecl = code.indexOf('var __');
await writeFile(out, code.slice(0, firstDecl) + trace + code.slice(firstDecl), 'latin1');
