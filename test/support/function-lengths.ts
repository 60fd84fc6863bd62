// How long each function of a TypeScript source is, without a parser: a scanner that knows strings,
// template literals, comments and regular expression literals finds every `{`, and a block counts as a
// function body when what stands before it is a function head: `function …`, a parameter list after a
// name (a method), or `=>`. Control statements (`if (…) {`, `catch (…) {`, …) are not functions.

export interface FunctionSpan {
  /** The head as written, shortened: e.g. `export async function publishRelease(`. */
  readonly name: string;
  /** 1-based lines of the head's first token and of the closing brace. */
  readonly start: number;
  readonly end: number;
  readonly lines: number;
}

interface Token {
  readonly text: string;
  readonly line: number;
}

const CONTROL = new Set([
  'if',
  'for',
  'while',
  'switch',
  'catch',
  'else',
  'do',
  'try',
  'finally',
  'with',
  'class',
]);
const REGEX_AFTER = new Set([
  '(',
  'yield',
  'await',
  ',',
  '=',
  ':',
  '[',
  '!',
  '&',
  '|',
  '?',
  '{',
  '}',
  ';',
  '+',
  '-',
  '*',
  '%',
  '<',
  '>',
  '~',
  '^',
  '=>',
  'return',
  'typeof',
  'case',
  'in',
  'of',
  'new',
  'delete',
  'void',
  'throw',
  'else',
  'do',
  '&&',
  '||',
  '??',
  '===',
  '!==',
  '==',
  '!=',
]);
const PUNCTUATION = /^(=>|===|!==|==|!=|&&|\|\||\?\?|[{}()[\];,<>=:!&|?+\-*%~^.])/;

/** Tokens that matter for blocks: punctuation, words, and a placeholder for each string or regex. */
export function tokenize(source: string): Token[] {
  const tokens: Token[] = [];
  let line = 1;
  let i = 0;
  /** Open template literals: the brace depth at which each `${` began. */
  const templates: number[] = [];
  let depth = 0;
  const skipQuoted = (quote: string) => {
    for (i++; i < source.length && source[i] !== quote; i++) if (source[i] === '\\') i++;
    i++;
  };
  /** Scans template text from i until `${` (returns true) or the closing backtick. */
  const templateText = (): boolean => {
    for (; i < source.length; i++) {
      const c = source[i];
      if (c === '\\') i++;
      else if (c === '\n') line++;
      else if (c === '`') break;
      else if (c === '$' && source[i + 1] === '{') {
        i += 2;
        return true;
      }
    }
    i++;
    return false;
  };
  while (i < source.length) {
    const c = source[i] as string;
    const rest = source.slice(i, i + 3);
    if (c === '\n') {
      line++;
      i++;
    } else if (/\s/.test(c)) i++;
    else if (rest.startsWith('//')) while (i < source.length && source[i] !== '\n') i++;
    else if (rest.startsWith('/*')) {
      const end = source.indexOf('*/', i + 2);
      const stop = end < 0 ? source.length : end + 2;
      line += source.slice(i, stop).split('\n').length - 1;
      i = stop;
    } else if (c === '"' || c === "'") {
      skipQuoted(c);
      tokens.push({ text: 'STRING', line });
    } else if (c === '`') {
      i++;
      if (templateText()) templates.push(depth);
      tokens.push({ text: 'STRING', line });
    } else if (c === '}' && templates.at(-1) === depth) {
      templates.pop();
      i++;
      if (templateText()) templates.push(depth);
    } else if (c === '/' && REGEX_AFTER.has(tokens.at(-1)?.text ?? ';')) {
      let inClass = false;
      for (i++; i < source.length && (inClass || source[i] !== '/'); i++) {
        if (source[i] === '\\') i++;
        else if (source[i] === '[') inClass = true;
        else if (source[i] === ']') inClass = false;
      }
      for (i++; /[a-z]/.test(source[i] ?? ''); i++);
      tokens.push({ text: 'REGEX', line });
    } else {
      const word = /^[#\w$]+/.exec(source.slice(i, i + 200))?.[0] ?? PUNCTUATION.exec(rest)?.[0] ?? c;
      if (word === '{') depth++;
      if (word === '}') depth--;
      tokens.push({ text: word, line });
      i += word.length;
    }
  }
  return tokens;
}

const TYPE_OR_VALUE_BEFORE = new Set([
  ':',
  '<',
  '|',
  '&',
  ',',
  '(',
  '[',
  '=',
  '?',
  '??',
  '||',
  '&&',
  'return',
]);
const OPEN = new Map([
  [')', '('],
  [']', '['],
  ['}', '{'],
]);

/** Index of the first token of the head before the `{` at `at`, and whether that head makes a function. */
function headBefore(tokens: Token[], at: number): { first: number; isFunction: boolean } {
  let j = at - 1;
  let sawParams = false;
  /** Tokens of the head outside any brackets: `=` there means an assignment, not a default value. */
  const outer: string[] = [];
  // A body follows `)`, `=>` or a return type; a `{` after these opens an object type or literal.
  if (TYPE_OR_VALUE_BEFORE.has(tokens[at - 1]?.text ?? '')) return { first: at, isFunction: false };
  while (j >= 0) {
    const text = (tokens[j] as Token).text;
    if (text === ';' || text === '{' || text === '(' || text === '[' || text === ',') break;
    const open = OPEN.get(text);
    if (open) {
      if (text === ')') sawParams = true;
      const close = j;
      let level = 0;
      for (; j >= 0; j--) {
        const t = (tokens[j] as Token).text;
        if (t === text) level++;
        else if (t === open && --level === 0) break;
      }
      // A `}` ends the statement before, unless it closes an object type (`Promise<{ … }>`, `): { … } {`).
      const next = tokens[close + 1]?.text ?? '';
      const inType = ['>', '|', '&', '['].includes(next) || tokens[j - 1]?.text === ':';
      if (text === '}' && !inType) {
        j = close;
        break;
      }
    }
    outer.push((tokens[j] as Token).text);
    j--;
  }
  j = Math.max(j, -1);
  const head = tokens.slice(j + 1, at).map((t) => t.text);
  const first = head[0] ?? '';
  const isFunction =
    head.at(-1) === '=>' ||
    head.includes('function') ||
    (sawParams && !CONTROL.has(first) && !outer.includes('=') && first !== 'new');
  return { first: j + 1, isFunction };
}

export function functionSpans(source: string): FunctionSpan[] {
  const tokens = tokenize(source);
  const spans: FunctionSpan[] = [];
  const open: number[] = [];
  for (let k = 0; k < tokens.length; k++) {
    const text = (tokens[k] as Token).text;
    if (text === '{') open.push(k);
    if (text !== '}') continue;
    const at = open.pop();
    if (at === undefined) continue;
    const { first, isFunction } = headBefore(tokens, at);
    if (!isFunction) continue;
    const start = (tokens[first] as Token).line;
    const end = (tokens[k] as Token).line;
    const name = tokens
      .slice(first, Math.min(at, first + 8))
      .map((t) => t.text)
      .join(' ');
    spans.push({ name, start, end, lines: end - start + 1 });
  }
  return spans.sort((a, b) => a.start - b.start);
}
