/**
 * `--format`: the Go text/template subset Docker's CLI accepts, and list output built on it.
 *
 * Vocabulary
 * - *template*: text with actions in `{{ }}`. `{{- ` and ` -}}` trim the whitespace before/after
 *   the action; `{{/* comment *\/}}` prints nothing. As in Docker, the two-character sequences
 *   `\t` and `\n` typed in a format are turned into a tab and a newline before parsing.
 * - *dot*: the current value. `{{.}}` prints it, `{{.A.B}}` walks fields, `$` is the root value
 *   and `$name` a variable declared with `{{$name := pipeline}}` or `{{range $i, $v := …}}`.
 * - *pipeline*: commands joined by `|`; the value of each is passed as the last argument of the
 *   next (`{{.Name | upper}}`). A command is a function call (`join .List ","`), a field with
 *   arguments (a method call: `{{.Label "com.example"}}`), a literal or a `( … )` sub-pipeline.
 * - *field lookup*, the one place where JavaScript values must play Go's types:
 *   - a plain object or class instance is a *struct*: a missing field is an error
 *     (`can't evaluate field Foo in type object`), exactly what Docker prints for
 *     `docker ps --format '{{.Foo}}'`; a function-valued field (a method) is called, with the
 *     command's arguments if any; getters are read;
 *   - a `Map` is a Go *map*: a missing key prints `<no value>`;
 *   - anything else (string, number, array, null) has no fields: error.
 * - *printing* (Go's %v): undefined → `<no value>`, null → `<nil>`, integers as is, other numbers
 *   in Go's shortest %g (`1.5`, `1e-07`), arrays `[a b c]`, Maps `map[k:v]` (sorted keys), plain
 *   objects `{v1 v2}` like a Go struct, Dates like Go's time.Time (`2024-01-02 03:04:05 +0000 UTC`).
 * - *truth* (if/with/and/or/not): false, 0, '', null, undefined, empty arrays and Maps are false;
 *   every other value (objects included) is true.
 *
 * Actions: `{{pipeline}}`, `{{if p}}…{{else if p}}…{{else}}…{{end}}`, `{{range p}}…{{else}}…{{end}}`
 * (arrays; Maps and plain objects in sorted key order, as Go ranges over maps),
 * `{{with p}}…{{else}}…{{end}}`, variable declarations and assignments.
 * Functions: Docker's `json split join title lower upper pad truncate` and Go's `index len printf
 * print println eq ne lt le gt ge and or not`. `printf` knows %s %v %d %q %f %x %t %% with flags,
 * width and precision. Not supported: `define/template/block`, `break/continue`, `slice`, `call`,
 * `html`, `js`, `urlquery`, chained fields after a parenthesis.
 *
 * Errors are `ERR_CLI_TEMPLATE` (invalid argument, exit code 1 as Docker's) with Docker's wording:
 *   template parsing error: template: :1:2: executing "" at <.Foo>: can't evaluate field Foo in type object
 *   template parsing error: template: :1: function "foo" not defined
 *
 * Lifecycle
 *   renderTemplate('{{.Name}}\t{{json .Labels}}', c)            // one rendering, no newline added
 *   formatList(containers, { format: opts.format, defaultTableFormat: 'table {{.ID}}\t{{.Names}}',
 *     headers: { ID: 'CONTAINER ID' }, quiet: opts.quiet, quietField: 'ID' })   // whole output
 */
import { defineError } from '../../core/errors';
import { tabwrite } from './table';

export const ERR_TEMPLATE = defineError('ERR_CLI_TEMPLATE', 'invalidArgument', 'template parsing error: %s');

// ---------------------------------------------------------------------------------------------
// Lexing and parsing

type Token =
  | { k: 'field'; names: string[]; pos: number } // .A.B  ('.' alone → names [])
  | { k: 'var'; name: string; names: string[]; pos: number } // $ / $x / $x.A
  | { k: 'ident'; name: string; pos: number }
  | { k: 'string'; value: string; pos: number }
  | { k: 'number'; value: number; pos: number }
  | { k: 'bool'; value: boolean; pos: number }
  | { k: 'nil'; pos: number }
  | { k: 'pipe' | 'lparen' | 'rparen' | 'declare' | 'assign' | 'comma'; pos: number };

type Operand =
  | { k: 'field'; names: string[]; pos: number }
  | { k: 'var'; name: string; names: string[]; pos: number }
  | { k: 'lit'; value: unknown; pos: number }
  | { k: 'ident'; name: string; pos: number }
  | { k: 'sub'; pipe: Pipeline; pos: number };

interface Command {
  operands: Operand[];
  pos: number;
}

interface Pipeline {
  decl: string[]; // variables declared (`$x :=`) or assigned
  isAssign: boolean;
  cmds: Command[];
  pos: number;
}

type Node =
  | { k: 'text'; text: string }
  | { k: 'action'; pipe: Pipeline }
  | { k: 'if' | 'with'; pipe: Pipeline; then: Node[]; else: Node[] }
  | { k: 'range'; pipe: Pipeline; body: Node[]; else: Node[] };

class TemplateSyntaxError extends Error {}

/** Go reports parse errors as `template: :LINE: message`. */
function lineOf(src: string, pos: number): number {
  let line = 1;
  for (let i = 0; i < pos && i < src.length; i++) if (src[i] === '\n') line++;
  return line;
}

/** `LINE:COL` where COL is the byte offset in its line, as Go prints execution errors. */
function lineCol(src: string, pos: number): string {
  const before = src.slice(0, pos);
  const nl = before.lastIndexOf('\n');
  return `${lineOf(src, pos)}:${Buffer.byteLength(before.slice(nl + 1))}`;
}

interface RawAction {
  body: string;
  pos: number; // offset of the body in the source
}

type Piece = { k: 'text'; text: string } | { k: 'action'; a: RawAction };

/** Splits the source into text and actions, applying trim markers and dropping comments. */
function splitPieces(src: string): Piece[] {
  const pieces: Piece[] = [];
  let i = 0;
  let trimNext = false;
  while (i < src.length) {
    const open = src.indexOf('{{', i);
    let text = open < 0 ? src.slice(i) : src.slice(i, open);
    if (trimNext) text = text.replace(/^\s+/, '');
    trimNext = false;
    if (open < 0) {
      if (text !== '') pieces.push({ k: 'text', text });
      break;
    }
    let bodyStart = open + 2;
    if (src.startsWith('- ', bodyStart) || src.startsWith('-\t', bodyStart) || src.startsWith('-\n', bodyStart)) {
      text = text.replace(/\s+$/, '');
      bodyStart += 1;
    }
    if (text !== '') pieces.push({ k: 'text', text });
    // Find the closing braces outside string literals.
    let j = bodyStart;
    let close = -1;
    while (j < src.length) {
      const c = src[j];
      if (c === '"' || c === '`' || c === "'") {
        const q = c;
        j++;
        while (j < src.length && src[j] !== q) {
          if (src[j] === '\\' && q !== '`') j++;
          j++;
        }
        if (j >= src.length) throw new TemplateSyntaxError(`template: :${lineOf(src, bodyStart)}: unterminated quoted string`);
        j++;
        continue;
      }
      if (src.startsWith('/*', j)) {
        const end = src.indexOf('*/', j + 2);
        if (end < 0) throw new TemplateSyntaxError(`template: :${lineOf(src, j)}: unclosed comment`);
        j = end + 2;
        continue;
      }
      if (src.startsWith('}}', j)) {
        close = j;
        break;
      }
      j++;
    }
    if (close < 0) throw new TemplateSyntaxError(`template: :${lineOf(src, open)}: unclosed action`);
    let bodyEnd = close;
    if (close - 2 >= bodyStart && src[close - 1] === '-' && /\s/.test(src[close - 2] as string)) {
      trimNext = true;
      bodyEnd = close - 1;
    }
    const body = src.slice(bodyStart, bodyEnd);
    if (!/^\s*\/\*[\s\S]*\*\/\s*$/.test(body)) pieces.push({ k: 'action', a: { body, pos: bodyStart } });
    i = close + 2;
  }
  return pieces;
}

const IDENT_RE = /^[A-Za-z_][A-Za-z0-9_]*/;

function unquoteGo(lit: string, src: string, pos: number): string {
  if (lit[0] === '`') return lit.slice(1, -1);
  if (lit[0] === "'") {
    const inner = unquoteGo(`"${lit.slice(1, -1)}"`, src, pos);
    return String(inner.codePointAt(0) ?? 0);
  }
  try {
    return JSON.parse(lit.replace(/\\([abfv'])/g, (_m, c: string) => ({ a: '\\u0007', b: '\\b', f: '\\f', v: '\\u000b', "'": "'" })[c] ?? c).replace(/\\x([0-9a-fA-F]{2})/g, '\\u00$1')) as string;
  } catch {
    throw new TemplateSyntaxError(`template: :${lineOf(src, pos)}: invalid syntax: ${lit}`);
  }
}

/** Tokenizes one action body. */
function lexAction(a: RawAction, src: string): Token[] {
  const toks: Token[] = [];
  const s = a.body;
  let i = 0;
  const fieldChain = (start: number): { names: string[]; end: number } => {
    const names: string[] = [];
    let j = start;
    while (s[j] === '.') {
      const m = IDENT_RE.exec(s.slice(j + 1));
      if (!m) break;
      names.push(m[0]);
      j += 1 + m[0].length;
    }
    return { names, end: j };
  };
  while (i < s.length) {
    const c = s[i] as string;
    const pos = a.pos + i;
    if (/\s/.test(c)) {
      i++;
    } else if (c === '|') {
      toks.push({ k: 'pipe', pos });
      i++;
    } else if (c === '(') {
      toks.push({ k: 'lparen', pos });
      i++;
    } else if (c === ')') {
      toks.push({ k: 'rparen', pos });
      i++;
    } else if (c === ',') {
      toks.push({ k: 'comma', pos });
      i++;
    } else if (s.startsWith(':=', i)) {
      toks.push({ k: 'declare', pos });
      i += 2;
    } else if (c === '=') {
      toks.push({ k: 'assign', pos });
      i++;
    } else if (c === '"' || c === '`' || c === "'") {
      let j = i + 1;
      while (j < s.length && s[j] !== c) {
        if (s[j] === '\\' && c !== '`') j++;
        j++;
      }
      const lit = s.slice(i, j + 1);
      if (c === "'") toks.push({ k: 'number', value: Number(unquoteGo(lit, src, pos)), pos });
      else toks.push({ k: 'string', value: unquoteGo(lit, src, pos), pos });
      i = j + 1;
    } else if (c === '.') {
      if (/[0-9]/.test(s[i + 1] ?? '')) {
        const m = /^\.[0-9]+([eE][+-]?[0-9]+)?/.exec(s.slice(i)) as RegExpExecArray;
        toks.push({ k: 'number', value: Number(m[0]), pos });
        i += m[0].length;
        continue;
      }
      const { names, end } = fieldChain(i);
      if (names.length === 0 && end === i) {
        if (i + 1 < s.length && !/[\s|)]/.test(s[i + 1] as string)) throw new TemplateSyntaxError(`template: :${lineOf(src, pos)}: bad character ${JSON.stringify(s[i + 1])}`);
        toks.push({ k: 'field', names: [], pos });
        i++;
      } else {
        toks.push({ k: 'field', names, pos });
        i = end;
      }
    } else if (c === '$') {
      const m = /^\$[A-Za-z0-9_]*/.exec(s.slice(i)) as RegExpExecArray;
      const { names, end } = fieldChain(i + m[0].length);
      toks.push({ k: 'var', name: m[0], names, pos });
      i = end;
    } else if (/[0-9+-]/.test(c)) {
      const m = /^[+-]?(0[xX][0-9a-fA-F_]+|[0-9][0-9_]*(\.[0-9]*)?([eE][+-]?[0-9]+)?)/.exec(s.slice(i));
      if (!m) throw new TemplateSyntaxError(`template: :${lineOf(src, pos)}: bad number syntax: ${JSON.stringify(s.slice(i, i + 8))}`);
      toks.push({ k: 'number', value: Number(m[0].replace(/_/g, '')), pos });
      i += m[0].length;
    } else {
      const m = IDENT_RE.exec(s.slice(i));
      if (!m) throw new TemplateSyntaxError(`template: :${lineOf(src, pos)}: unexpected ${JSON.stringify(c)} in command`);
      const w = m[0];
      if (w === 'true' || w === 'false') toks.push({ k: 'bool', value: w === 'true', pos });
      else if (w === 'nil') toks.push({ k: 'nil', pos });
      else toks.push({ k: 'ident', name: w, pos });
      i += w.length;
    }
  }
  return toks;
}

const KEYWORDS = new Set(['if', 'else', 'end', 'range', 'with', 'define', 'template', 'block', 'break', 'continue']);

/** Parses tokens into a pipeline; `stop` ends it at a closing parenthesis. */
function parsePipeline(toks: Token[], start: number, src: string, inParens: boolean): { pipe: Pipeline; next: number } {
  let i = start;
  const pos = toks[i]?.pos ?? 0;
  const decl: string[] = [];
  let isAssign = false;
  // Declarations: $x := … / $x = … / $i, $v := …
  const save = i;
  while (toks[i]?.k === 'var' && (toks[i] as { names: string[] }).names.length === 0) {
    decl.push((toks[i] as { name: string }).name);
    i++;
    if (toks[i]?.k === 'comma') {
      i++;
      continue;
    }
    break;
  }
  if (decl.length > 0 && (toks[i]?.k === 'declare' || toks[i]?.k === 'assign')) {
    isAssign = toks[i]?.k === 'assign';
    i++;
  } else {
    decl.length = 0;
    i = save;
  }
  const cmds: Command[] = [];
  let cur: Command = { operands: [], pos: toks[i]?.pos ?? pos };
  for (; i < toks.length; i++) {
    const t = toks[i] as Token;
    if (t.k === 'rparen') {
      if (!inParens) throw new TemplateSyntaxError(`template: :${lineOf(src, t.pos)}: unexpected right paren`);
      break;
    }
    if (t.k === 'pipe') {
      if (cur.operands.length === 0) throw new TemplateSyntaxError(`template: :${lineOf(src, t.pos)}: missing command`);
      cmds.push(cur);
      cur = { operands: [], pos: toks[i + 1]?.pos ?? t.pos };
      continue;
    }
    if (t.k === 'lparen') {
      const r = parsePipeline(toks, i + 1, src, true);
      if (toks[r.next]?.k !== 'rparen') throw new TemplateSyntaxError(`template: :${lineOf(src, t.pos)}: unclosed left paren`);
      cur.operands.push({ k: 'sub', pipe: r.pipe, pos: t.pos });
      i = r.next;
      continue;
    }
    switch (t.k) {
      case 'field':
        cur.operands.push({ k: 'field', names: t.names, pos: t.pos });
        break;
      case 'var':
        cur.operands.push({ k: 'var', name: t.name, names: t.names, pos: t.pos });
        break;
      case 'string':
      case 'number':
      case 'bool':
        cur.operands.push({ k: 'lit', value: t.value, pos: t.pos });
        break;
      case 'nil':
        cur.operands.push({ k: 'lit', value: null, pos: t.pos });
        break;
      case 'ident':
        if (KEYWORDS.has(t.name)) throw new TemplateSyntaxError(`template: :${lineOf(src, t.pos)}: unexpected <${t.name}> in command`);
        if (!(t.name in FUNCS)) throw new TemplateSyntaxError(`template: :${lineOf(src, t.pos)}: function ${JSON.stringify(t.name)} not defined`);
        cur.operands.push({ k: 'ident', name: t.name, pos: t.pos });
        break;
      default:
        throw new TemplateSyntaxError(`template: :${lineOf(src, t.pos)}: unexpected ${JSON.stringify(t.k === 'comma' ? ',' : t.k === 'declare' ? ':=' : '=')} in operand`);
    }
  }
  if (cur.operands.length === 0) throw new TemplateSyntaxError(`template: :${lineOf(src, pos)}: missing value for command`);
  cmds.push(cur);
  return { pipe: { decl, isAssign, cmds, pos }, next: i };
}

function parseTemplate(src: string): Node[] {
  const pieces = splitPieces(src);
  let idx = 0;
  // Parses nodes until one of the stop keywords; returns the keyword action that stopped it.
  const parseList = (stops: Set<string>): { nodes: Node[]; stop?: { word: string; toks: Token[]; a: RawAction } } => {
    const nodes: Node[] = [];
    while (idx < pieces.length) {
      const p = pieces[idx++] as Piece;
      if (p.k === 'text') {
        nodes.push({ k: 'text', text: p.text });
        continue;
      }
      const toks = lexAction(p.a, src);
      if (toks.length === 0) throw new TemplateSyntaxError(`template: :${lineOf(src, p.a.pos)}: missing value for command`);
      const first = toks[0] as Token;
      const word = first.k === 'ident' ? first.name : '';
      if (word === 'end' || word === 'else') {
        if (!stops.has(word)) throw new TemplateSyntaxError(`template: :${lineOf(src, p.a.pos)}: unexpected {{${word}}}`);
        return { nodes, stop: { word, toks, a: p.a } };
      }
      if (word === 'if' || word === 'with' || word === 'range') {
        nodes.push(parseControl(word, toks.slice(1), p.a));
        continue;
      }
      if (word !== '' && KEYWORDS.has(word)) throw new TemplateSyntaxError(`template: :${lineOf(src, p.a.pos)}: {{${word}}} is not supported by berth`);
      const r = parsePipeline(toks, 0, src, false);
      nodes.push({ k: 'action', pipe: r.pipe });
    }
    if (stops.size > 0) throw new TemplateSyntaxError(`template: :${lineOf(src, src.length)}: unexpected EOF`);
    return { nodes };
  };
  const parseControl = (word: 'if' | 'with' | 'range', toks: Token[], a: RawAction): Node => {
    if (toks.length === 0) throw new TemplateSyntaxError(`template: :${lineOf(src, a.pos)}: missing value for ${word}`);
    const { pipe } = parsePipeline(toks, 0, src, false);
    const body = parseList(new Set(['else', 'end']));
    let elseNodes: Node[] = [];
    const stop = body.stop as { word: string; toks: Token[]; a: RawAction };
    if (stop.word === 'else') {
      const rest = stop.toks.slice(1);
      const chained = rest[0];
      if (chained && chained.k === 'ident' && (chained.name === 'if' || chained.name === 'with') && word !== 'range') {
        // {{else if …}}: the nested control consumes the shared {{end}}.
        elseNodes = [parseControl(chained.name, rest.slice(1), stop.a)];
      } else {
        if (rest.length > 0) throw new TemplateSyntaxError(`template: :${lineOf(src, stop.a.pos)}: unexpected tokens after else`);
        const e = parseList(new Set(['end']));
        elseNodes = e.nodes;
      }
    }
    return word === 'range' ? { k: 'range', pipe, body: body.nodes, else: elseNodes } : { k: word, pipe, then: body.nodes, else: elseNodes };
  };
  return parseList(new Set()).nodes;
}

// ---------------------------------------------------------------------------------------------
// Values: truth, printing, JSON

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Map) && !(v instanceof Date);
}

function truth(v: unknown): boolean {
  if (v === undefined || v === null) return false;
  if (typeof v === 'boolean') return v;
  if (typeof v === 'number') return v !== 0 && !Number.isNaN(v);
  if (typeof v === 'bigint') return v !== 0n;
  if (typeof v === 'string') return v.length > 0;
  if (Array.isArray(v)) return v.length > 0;
  if (v instanceof Map) return v.size > 0;
  return true;
}

/**
 * Go's %v for a number. JavaScript cannot tell Go's int from float64, so integral values print
 * as integers (sizes, counts, pids are Go ints in Docker's contexts); other values print like
 * Go's float64 %v: shortest digits, exponent form when the exponent is < -4 or >= 6 (`1e-07`,
 * `1.2345675e+06`).
 */
function goFloat(x: number): string {
  if (Number.isNaN(x)) return 'NaN';
  if (!Number.isFinite(x)) return x > 0 ? '+Inf' : '-Inf';
  const integral = Number.isInteger(x) && Math.abs(x) < 1e21;
  if (integral) return String(x);
  const [m, e] = x.toExponential().split('e') as [string, string];
  const exp = Number(e);
  if (exp < -4 || exp >= 6) return `${m}e${exp < 0 ? '-' : '+'}${Math.abs(exp) < 10 ? '0' : ''}${Math.abs(exp)}`;
  return String(x);
}

function pad2(n: number): string {
  return n < 10 ? `0${n}` : String(n);
}

/** Go's time.Time.String() in UTC. */
function goTime(d: Date): string {
  if (Number.isNaN(d.getTime())) return '<invalid time>';
  const ms = d.getUTCMilliseconds();
  const frac = ms === 0 ? '' : `.${String(ms).padStart(3, '0').replace(/0+$/, '')}`;
  return `${d.getUTCFullYear()}-${pad2(d.getUTCMonth() + 1)}-${pad2(d.getUTCDate())} ${pad2(d.getUTCHours())}:${pad2(d.getUTCMinutes())}:${pad2(d.getUTCSeconds())}${frac} +0000 UTC`;
}

function sortedKeys(v: Map<unknown, unknown> | Record<string, unknown>): unknown[] {
  const keys = v instanceof Map ? [...v.keys()] : Object.keys(v);
  return keys.sort((a, b) => {
    if (typeof a === 'number' && typeof b === 'number') return a - b;
    const sa = String(a);
    const sb = String(b);
    return sa < sb ? -1 : sa > sb ? 1 : 0;
  });
}

/** Go's fmt %v. */
export function printValue(v: unknown): string {
  if (v === undefined) return '<no value>';
  if (v === null) return '<nil>';
  if (typeof v === 'string') return v;
  if (typeof v === 'number') return goFloat(v);
  if (typeof v === 'boolean' || typeof v === 'bigint') return String(v);
  if (Array.isArray(v)) return `[${v.map(printNested).join(' ')}]`;
  if (v instanceof Map) return `map[${sortedKeys(v).map((k) => `${printNested(k)}:${printNested(v.get(k))}`).join(' ')}]`;
  if (v instanceof Date) return goTime(v);
  if (typeof v === 'function') return '<func>';
  const o = v as Record<string, unknown>;
  if (typeof o.toString === 'function' && o.toString !== Object.prototype.toString) return String(o.toString());
  return `{${Object.keys(o).map((k) => printNested(o[k])).join(' ')}}`;
}

/** Inside a composite, Go prints nil as `<nil>` (never `<no value>`). */
function printNested(v: unknown): string {
  return v === undefined || v === null ? '<nil>' : printValue(v);
}

/**
 * Converts a value to what `json` should encode: Maps become objects with sorted keys (as Go
 * encodes maps), class instances are read through their getters as well as own properties (so a
 * context class with `get ID()` encodes like Docker's formatter contexts do), `toJSON` wins.
 */
function toJSONable(v: unknown, depth = 0): unknown {
  if (depth > 64) throw new Error('json: value too deep (cycle?)');
  if (v === undefined || v === null || typeof v !== 'object') return typeof v === 'bigint' ? Number(v) : v;
  const withToJSON = v as { toJSON?: () => unknown };
  if (typeof withToJSON.toJSON === 'function') return withToJSON.toJSON();
  if (Array.isArray(v)) return v.map((x) => toJSONable(x, depth + 1) ?? null);
  if (v instanceof Map) {
    const o: Record<string, unknown> = {};
    for (const k of sortedKeys(v)) o[String(k)] = toJSONable(v.get(k), depth + 1);
    return o;
  }
  const o: Record<string, unknown> = {};
  for (const k of Object.keys(v)) o[k] = toJSONable((v as Record<string, unknown>)[k], depth + 1);
  for (let proto = Object.getPrototypeOf(v) as object | null; proto && proto !== Object.prototype; proto = Object.getPrototypeOf(proto) as object | null) {
    for (const [k, d] of Object.entries(Object.getOwnPropertyDescriptors(proto))) {
      if (d.get && !(k in o) && !k.startsWith('_')) o[k] = toJSONable((v as Record<string, unknown>)[k], depth + 1);
    }
  }
  return o;
}

/** Docker's `json` function: compact JSON, HTML characters not escaped, like Go's encoder. */
export function toJSON(v: unknown): string {
  const s = JSON.stringify(toJSONable(v)) ?? 'null';
  return s.replace(/\u2028/g, '\\u2028').replace(/\u2029/g, '\\u2029');
}

// ---------------------------------------------------------------------------------------------
// Functions

class ExecError extends Error {}

function asString(v: unknown, fn: string): string {
  if (typeof v === 'string') return v;
  throw new ExecError(`error calling ${fn}: wrong type for value; expected string; got ${goTypeName(v)}`);
}

function asInt(v: unknown, fn: string): number {
  if (typeof v === 'number' && Number.isInteger(v)) return v;
  throw new ExecError(`error calling ${fn}: wrong type for value; expected int; got ${goTypeName(v)}`);
}

function goTypeName(v: unknown): string {
  if (v === undefined || v === null) return '<nil>';
  if (typeof v === 'string') return 'string';
  if (typeof v === 'number') return Number.isInteger(v) ? 'int' : 'float64';
  if (typeof v === 'boolean') return 'bool';
  if (Array.isArray(v)) return '[]interface {}';
  if (v instanceof Map) return 'map';
  const ctor = (v as { constructor?: { name?: string } }).constructor?.name;
  return ctor && ctor !== 'Object' ? ctor : 'object';
}

/** Go's strings.Title: upper-cases the first letter of every word. */
function title(s: string): string {
  let prevSep = true;
  let out = '';
  for (const ch of s) {
    out += prevSep ? ch.toUpperCase() : ch;
    prevSep = !/[\p{L}\p{N}_]/u.test(ch);
  }
  return out;
}

function compare(a: unknown, b: unknown, op: string): boolean {
  if (typeof a !== typeof b || (typeof a !== 'number' && typeof a !== 'string')) {
    throw new ExecError(`error calling ${op}: incompatible types for comparison`);
  }
  const x = a as number | string;
  const y = b as number | string;
  switch (op) {
    case 'lt':
      return x < y;
    case 'le':
      return x <= y;
    case 'gt':
      return x > y;
    default:
      return x >= y;
  }
}

function basicEq(a: unknown, b: unknown): boolean {
  if (a === null || a === undefined || b === null || b === undefined) return (a ?? null) === (b ?? null);
  if (typeof a !== typeof b) throw new ExecError('error calling eq: incompatible types for comparison');
  if (typeof a === 'object') throw new ExecError('error calling eq: invalid type for comparison');
  return a === b;
}

/** Go's fmt.Sprintf for a practical subset of verbs. */
export function sprintf(format: string, args: unknown[]): string {
  let ai = 0;
  return format.replace(/%([-+# 0]*)(\d+)?(?:\.(\d+))?([svdqfxXtegc%])/g, (_m, flags: string, width?: string, prec?: string, verb?: string) => {
    if (verb === '%') return '%';
    if (ai >= args.length) return `%!${verb}(MISSING)`;
    const a = args[ai++];
    let s: string;
    switch (verb) {
      case 's':
      case 'v':
        s = printValue(a);
        if (prec !== undefined && verb === 's') s = [...s].slice(0, Number(prec)).join('');
        break;
      case 'd':
        s = typeof a === 'number' && Number.isInteger(a) ? String(a) : `%!d(${goTypeName(a)}=${printValue(a)})`;
        if (flags.includes('+') && typeof a === 'number' && a >= 0) s = `+${s}`;
        break;
      case 'q':
        s = typeof a === 'string' ? JSON.stringify(a) : `%!q(${goTypeName(a)}=${printValue(a)})`;
        break;
      case 'f':
      case 'e':
      case 'g':
        if (typeof a !== 'number') s = `%!${verb}(${goTypeName(a)}=${printValue(a)})`;
        else if (verb === 'f') s = a.toFixed(prec === undefined ? 6 : Number(prec));
        else if (verb === 'e') s = a.toExponential(prec === undefined ? 6 : Number(prec)).replace(/e([+-])(\d)$/, 'e$10$2');
        else s = goFloat(a);
        break;
      case 'x':
      case 'X': {
        if (typeof a === 'number' && Number.isInteger(a)) s = a.toString(16);
        else if (typeof a === 'string') s = Buffer.from(a).toString('hex');
        else s = `%!${verb}(${goTypeName(a)}=${printValue(a)})`;
        if (verb === 'X') s = s.toUpperCase();
        break;
      }
      case 't':
        s = typeof a === 'boolean' ? String(a) : `%!t(${goTypeName(a)}=${printValue(a)})`;
        break;
      case 'c':
        s = typeof a === 'number' ? String.fromCodePoint(a) : `%!c(${goTypeName(a)}=${printValue(a)})`;
        break;
      default:
        s = printValue(a);
    }
    if (width !== undefined) {
      const w = Number(width);
      const len = [...s].length;
      if (len < w) {
        if (flags.includes('-')) s = s + ' '.repeat(w - len);
        else if (flags.includes('0') && /^[+-]?\d/.test(s)) s = s.replace(/^([+-]?)/, `$1${'0'.repeat(w - len)}`);
        else s = ' '.repeat(w - len) + s;
      }
    }
    return s;
  }) + (ai < args.length ? `%!(EXTRA ${args.slice(ai).map((a) => `${goTypeName(a)}=${printValue(a)}`).join(', ')})` : '');
}

function indexOne(container: unknown, key: unknown): unknown {
  if (Array.isArray(container) || typeof container === 'string') {
    const i = asInt(key, 'index');
    const len = Array.isArray(container) ? container.length : Buffer.byteLength(container);
    if (i < 0 || i >= len) throw new ExecError(`error calling index: index out of range: ${i}`);
    return Array.isArray(container) ? container[i] : Buffer.from(container)[i];
  }
  if (container instanceof Map) return container.has(key) ? container.get(key) : '';
  if (isPlainObject(container)) {
    const k = String(key);
    return Object.prototype.hasOwnProperty.call(container, k) ? container[k] : '';
  }
  if (container === undefined || container === null) throw new ExecError('error calling index: index of untyped nil');
  throw new ExecError(`error calling index: can't index item of type ${goTypeName(container)}`);
}

type Fn = (...args: unknown[]) => unknown;

const FUNCS: Record<string, Fn> = {
  json: (v) => toJSON(v),
  split: (s, sep) => {
    const str = asString(s, 'split');
    const p = asString(sep, 'split');
    return p === '' ? [...str] : str.split(p);
  },
  join: (list, sep) => {
    if (!Array.isArray(list)) throw new ExecError(`error calling join: wrong type for value; expected []string; got ${goTypeName(list)}`);
    return list.map((x) => (typeof x === 'string' ? x : printNested(x))).join(asString(sep, 'join'));
  },
  title: (s) => title(asString(s, 'title')),
  lower: (s) => asString(s, 'lower').toLowerCase(),
  upper: (s) => asString(s, 'upper').toUpperCase(),
  pad: (s, pre, post) => {
    const str = asString(s, 'pad');
    return str === '' ? str : ' '.repeat(Math.max(0, asInt(pre, 'pad'))) + str + ' '.repeat(Math.max(0, asInt(post, 'pad')));
  },
  truncate: (s, n) => {
    const str = asString(s, 'truncate');
    const len = asInt(n, 'truncate');
    const chars = [...str];
    return chars.length < len ? str : chars.slice(0, Math.max(0, len)).join('');
  },
  index: (container, ...keys) => keys.reduce((c, k) => indexOne(c, k), container),
  len: (v) => {
    if (typeof v === 'string') return Buffer.byteLength(v);
    if (Array.isArray(v)) return v.length;
    if (v instanceof Map) return v.size;
    if (isPlainObject(v)) return Object.keys(v).length;
    throw new ExecError(`error calling len: len of type ${goTypeName(v)}`);
  },
  printf: (fmt, ...args) => sprintf(asString(fmt, 'printf'), args),
  print: (...args) => args.map((a, i) => (i > 0 && typeof a !== 'string' && typeof args[i - 1] !== 'string' ? ' ' : '') + printValue(a)).join(''),
  println: (...args) => args.map(printValue).join(' ') + '\n',
  eq: (a, ...bs) => {
    if (bs.length === 0) throw new ExecError('error calling eq: missing argument for comparison');
    return bs.some((b) => basicEq(a, b));
  },
  ne: (a, b) => !basicEq(a, b),
  lt: (a, b) => compare(a, b, 'lt'),
  le: (a, b) => compare(a, b, 'le'),
  gt: (a, b) => compare(a, b, 'gt'),
  ge: (a, b) => compare(a, b, 'ge'),
  not: (a) => !truth(a),
  and: (...args) => {
    for (const a of args) if (!truth(a)) return a;
    return args[args.length - 1];
  },
  or: (...args) => {
    for (const a of args) if (truth(a)) return a;
    return args[args.length - 1];
  },
};

/** Docker's header functions: in a table header, these return their first argument unchanged. */
const HEADER_PASSTHROUGH = new Set(['json', 'split', 'join', 'title', 'lower', 'upper', 'truncate']);

// ---------------------------------------------------------------------------------------------
// Execution

interface Scope {
  vars: Map<string, unknown>[];
  root: unknown;
  src: string;
  /** Header mode: every field evaluates to its column header. */
  header?: (field: string) => string;
}

function lookupVar(sc: Scope, name: string): unknown {
  for (let i = sc.vars.length - 1; i >= 0; i--) {
    const m = sc.vars[i] as Map<string, unknown>;
    if (m.has(name)) return m.get(name);
  }
  throw new ExecError(`undefined variable: ${name}`);
}

/** Evaluates `.A.B` (or `$x.A.B`) from `base`; `args` go to a final method call. */
function walkFields(sc: Scope, base: unknown, names: string[], args: unknown[], at: string): unknown {
  let cur = base;
  for (let n = 0; n < names.length; n++) {
    const name = names[n] as string;
    const last = n === names.length - 1;
    if (sc.header) {
      cur = sc.header(name);
      continue;
    }
    if (cur instanceof Map) {
      if (last && args.length > 0) throw new ExecError(`${at}: ${name} has arguments but cannot be invoked as function`);
      cur = cur.get(name);
      continue;
    }
    if (cur === undefined || cur === null) throw new ExecError(`${at}: nil pointer evaluating ${goTypeName(cur)}.${name}`);
    if (typeof cur !== 'object' || Array.isArray(cur) || cur instanceof Date) {
      throw new ExecError(`${at}: can't evaluate field ${name} in type ${goTypeName(cur)}`);
    }
    if (!(name in cur)) throw new ExecError(`${at}: can't evaluate field ${name} in type ${goTypeName(cur)}`);
    const v = (cur as Record<string, unknown>)[name];
    if (typeof v === 'function') {
      const r: unknown = (v as Fn).apply(cur, last ? args : []);
      cur = r;
      if (last) return cur;
      continue;
    }
    if (last && args.length > 0) throw new ExecError(`${at}: ${name} has arguments but cannot be invoked as function`);
    cur = v;
  }
  if (names.length === 0 && args.length > 0) throw new ExecError(`${at}: can't give argument to non-function .`);
  return cur;
}

function atText(sc: Scope, op: Operand): string {
  let text: string;
  switch (op.k) {
    case 'field':
      text = op.names.length === 0 ? '.' : '.' + op.names.join('.');
      break;
    case 'var':
      text = op.name + op.names.map((n) => '.' + n).join('');
      break;
    case 'ident':
      text = op.name;
      break;
    default:
      text = '';
  }
  return `template: :${lineCol(sc.src, op.pos)}: executing "" at <${text}>`;
}

function evalOperand(sc: Scope, dot: unknown, op: Operand, args: unknown[]): unknown {
  switch (op.k) {
    case 'lit':
      if (args.length > 0) throw new ExecError(`${atText(sc, op)}: can't give argument to non-function ${printValue(op.value)}`);
      return op.value;
    case 'field':
      return walkFields(sc, dot, op.names, args, atText(sc, op));
    case 'var':
      return walkFields(sc, lookupVar(sc, op.name), op.names, args, atText(sc, op));
    case 'sub':
      if (args.length > 0) throw new ExecError(`${atText(sc, op)}: can't give argument to non-function`);
      return evalPipeline(sc, dot, op.pipe);
    case 'ident': {
      const fn = FUNCS[op.name] as Fn;
      if (sc.header && HEADER_PASSTHROUGH.has(op.name)) return args[0];
      try {
        return fn(...args);
      } catch (e) {
        if (e instanceof ExecError && !e.message.startsWith('template:')) throw new ExecError(`${atText(sc, op)}: ${e.message}`);
        throw e;
      }
    }
  }
}

function evalCommand(sc: Scope, dot: unknown, cmd: Command, piped: unknown[]): unknown {
  const [head, ...rest] = cmd.operands as [Operand, ...Operand[]];
  const isCallable = head.k === 'ident' || head.k === 'field' || head.k === 'var';
  if (!isCallable && (rest.length > 0 || piped.length > 0)) {
    throw new ExecError(`${atText(sc, head)}: can't give argument to non-function`);
  }
  // `and`/`or` short-circuit in Go ≥ 1.18: evaluate arguments lazily.
  if (head.k === 'ident' && (head.name === 'and' || head.name === 'or') && !sc.header) {
    const want = head.name === 'or';
    let last: unknown;
    for (const op of rest) {
      last = evalOperand(sc, dot, op, []);
      if (truth(last) === want) return last;
    }
    if (piped.length > 0) last = piped[0];
    return last;
  }
  const args = [...rest.map((op) => evalOperand(sc, dot, op, [])), ...piped];
  return evalOperand(sc, dot, head, args);
}

function evalPipeline(sc: Scope, dot: unknown, pipe: Pipeline): unknown {
  let value: unknown;
  pipe.cmds.forEach((cmd, i) => {
    value = evalCommand(sc, dot, cmd, i === 0 ? [] : [value]);
  });
  if (pipe.decl.length > 0) {
    const name = pipe.decl[pipe.decl.length - 1] as string;
    if (pipe.isAssign) {
      for (let i = sc.vars.length - 1; i >= 0; i--) {
        const m = sc.vars[i] as Map<string, unknown>;
        if (m.has(name)) {
          m.set(name, value);
          return value;
        }
      }
      throw new ExecError(`undefined variable: ${name}`);
    }
    (sc.vars[sc.vars.length - 1] as Map<string, unknown>).set(name, value);
  }
  return value;
}

function iterate(v: unknown, sc: Scope, pos: number): Array<[unknown, unknown]> {
  if (v === undefined || v === null) return [];
  if (Array.isArray(v)) return v.map((x, i) => [i, x]);
  if (v instanceof Map) return sortedKeys(v).map((k) => [k, v.get(k)]);
  if (typeof v === 'number' && Number.isInteger(v)) return Array.from({ length: Math.max(0, v) }, (_x, i) => [i, i]);
  if (isPlainObject(v) && Object.getPrototypeOf(v) === Object.prototype) return sortedKeys(v).map((k) => [k, v[k as string]]);
  throw new ExecError(`template: :${lineCol(sc.src, pos)}: range can't iterate over ${printValue(v)}`);
}

function execNodes(sc: Scope, dot: unknown, nodes: Node[], out: string[]): void {
  for (const n of nodes) {
    switch (n.k) {
      case 'text':
        out.push(n.text);
        break;
      case 'action': {
        const v = evalPipeline(sc, dot, n.pipe);
        if (n.pipe.decl.length === 0) out.push(printValue(v));
        break;
      }
      case 'if':
      case 'with': {
        sc.vars.push(new Map());
        const v = evalPipeline(sc, dot, n.pipe);
        if (truth(v)) execNodes(sc, n.k === 'with' ? v : dot, n.then, out);
        else execNodes(sc, dot, n.else, out);
        sc.vars.pop();
        break;
      }
      case 'range': {
        sc.vars.push(new Map());
        const decl = n.pipe.decl;
        const v = evalPipeline(sc, dot, { ...n.pipe, decl: [] });
        const items = iterate(v, sc, n.pipe.pos);
        if (items.length === 0) execNodes(sc, dot, n.else, out);
        for (const [k, item] of items) {
          const scopeVars = new Map<string, unknown>();
          if (decl.length === 1) scopeVars.set(decl[0] as string, item);
          if (decl.length === 2) {
            scopeVars.set(decl[0] as string, k);
            scopeVars.set(decl[1] as string, item);
          }
          sc.vars.push(scopeVars);
          execNodes(sc, item, n.body, out);
          sc.vars.pop();
        }
        sc.vars.pop();
        break;
      }
    }
  }
}

/** A parsed template that can be executed many times (one parse per list). */
export interface CompiledTemplate {
  execute(data: unknown): string;
  /** Renders the table header: each field becomes its header text. Errors yield the text so far. */
  executeHeader(header: (field: string) => string): string;
}

/** Docker's preFormat: `\t` and `\n` typed as two characters become tab and newline. */
function unescapeFormat(s: string): string {
  return s.replace(/\\t|\\n/g, (m) => (m === '\\t' ? '\t' : '\n'));
}

function wrapError(e: unknown): unknown {
  if (e instanceof TemplateSyntaxError || e instanceof ExecError) return ERR_TEMPLATE(e.message);
  return e;
}

/** Parses a template (after Docker's `\t`/`\n` unescaping). Throws ERR_TEMPLATE on syntax errors. */
export function compileTemplate(template: string): CompiledTemplate {
  const src = unescapeFormat(template);
  let nodes: Node[];
  try {
    nodes = parseTemplate(src);
  } catch (e) {
    throw wrapError(e);
  }
  return {
    execute(data) {
      const out: string[] = [];
      try {
        execNodes({ vars: [new Map([['$', data]])], root: data, src }, data, nodes, out);
      } catch (e) {
        throw wrapError(e);
      }
      return out.join('');
    },
    executeHeader(header) {
      const out: string[] = [];
      try {
        execNodes({ vars: [new Map([['$', undefined]])], root: undefined, src, header }, undefined, nodes, out);
      } catch {
        // Docker ignores errors while rendering the header and keeps what was written.
      }
      return out.join('');
    },
  };
}

/**
 * Renders `template` once against `data`, like `docker inspect --format`. No newline is added.
 * Throws ERR_TEMPLATE (exit code 1) on a syntax error, an unknown field or a failing function.
 */
export function renderTemplate(template: string, data: unknown): string {
  return compileTemplate(template).execute(data);
}

/** 'CreatedAt' → 'CREATED AT', 'ID' → 'ID', 'HTTPPort' → 'HTTP PORT', 'local_volumes' → 'LOCAL VOLUMES'. */
export function defaultHeader(field: string): string {
  return field
    .replace(/([a-z0-9])([A-Z])/g, '$1 $2')
    .replace(/([A-Z]+)([A-Z][a-z])/g, '$1 $2')
    .replace(/[_-]+/g, ' ')
    .toUpperCase();
}

export interface FormatListOptions {
  /** The user's `--format`: undefined, `table`, `table TEMPLATE`, `json`, or a plain TEMPLATE. */
  format?: string;
  /** Used when format is undefined or exactly `table`; starts with 'table '. */
  defaultTableFormat: string;
  /** Column headers by field name, e.g. `{ ID: 'CONTAINER ID' }`; others from `defaultHeader`. */
  headers?: Record<string, string>;
  /** `-q`: print only `quietField` of each item, one per line; wins over format. */
  quiet?: boolean;
  /** Field printed by quiet, default 'ID'. */
  quietField?: string;
}

/**
 * The whole output of a list command (`ps`, `images`, `volume ls` …), each line ending in `\n`:
 * - quiet: the `quietField` of each item per line (Docker ignores `--format` when `-q` is set,
 *   printing a warning the caller may add);
 * - format undefined or `table`: `defaultTableFormat`;
 * - `table TEMPLATE`: a header row (fields named by `headers`, else `defaultHeader`), then one row
 *   per item, aligned like Docker's tabwriter (min width 10, padding 3). The header is printed
 *   even when there are no items, as `docker ps` does;
 * - `json`: one compact JSON object per line (`{{json .}}`);
 * - any other TEMPLATE: one rendering per item, each followed by a newline, no alignment.
 * Like Docker, spaces around the format are trimmed and `\t`/`\n` escapes are honoured.
 */
export function formatList(items: object[], opts: FormatListOptions): string {
  if (opts.quiet) {
    const field = opts.quietField ?? 'ID';
    const t = compileTemplate(`{{.${field}}}`);
    return items.map((it) => t.execute(it) + '\n').join('');
  }
  let format = opts.format === undefined || opts.format.trim() === 'table' ? opts.defaultTableFormat : opts.format;
  const isTable = format.startsWith('table');
  if (isTable) format = format.slice('table'.length);
  else if (format === 'json') format = '{{json .}}';
  format = format.replace(/^ +| +$/g, '');
  const t = compileTemplate(format);
  const body = items.map((it) => t.execute(it) + '\n').join('');
  if (!isTable) return body;
  const headers = opts.headers ?? {};
  const header = t.executeHeader((f) => headers[f] ?? defaultHeader(f));
  return tabwrite(header + '\n' + body, { minWidth: 10, padding: 3 });
}

/**
 * Prints the objects of an `inspect` command as Docker does: with `--format`, one rendered line
 * per object (`json` is one JSON object per line); without, one JSON array indented by 4.
 */
export function formatInspect(objects: readonly unknown[], format: string | undefined): string[] {
  if (format !== undefined) return objects.map((o) => (format === 'json' ? JSON.stringify(o) : renderTemplate(format, o)));
  return [JSON.stringify(objects, null, 4)];
}
