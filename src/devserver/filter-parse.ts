/**
 * Parses a `?filter` expression into a syntax tree the way go-bexpr v0.1.2 (the version Consul pins) does: the
 * same PEG rules tried in the same order, so the same inputs fail, with pigeon's error texts (`1:12 (11): rule
 * "string": Unterminated string literal`, `1:4 (3): no match found, expected: …`).
 * @module
 */
import { goQuote } from './go-strconv.js';

/** A match operator, named as bexpr prints it in its error texts (`Invalid match operator "Is Empty" …`). */
export type MatchOperator =
  | 'Equal'
  | 'Not Equal'
  | 'In'
  | 'Not In'
  | 'Is Empty'
  | 'Is Not Empty'
  | 'Matches'
  | 'Not Matches';

/** The syntax tree of a filter expression. `value` is the raw text; only `Is Empty`/`Is Not Empty` have none. */
export type FilterAst =
  | { readonly kind: 'not'; readonly operand: FilterAst }
  | { readonly kind: 'and' | 'or'; readonly left: FilterAst; readonly right: FilterAst }
  | {
      readonly kind: 'match';
      readonly selector: readonly string[];
      readonly operator: MatchOperator;
      readonly value: string | undefined;
    };

/** The tree, or pigeon's error text (without Consul's `Failed to create boolean expression evaluator: ` prefix). */
export type ParseResult = { ok: true; ast: FilterAst } | { ok: false; error: string };

type Match = Extract<FilterAst, { kind: 'match' }>;
type Step = 'ws' | 'ws?' | string;

// Each operator rule of the grammar as its sequence: `ws` is `_` (required whitespace), `ws?` is `_?`.
const SELECTOR_VALUE_OPERATORS: ReadonlyArray<readonly [MatchOperator, readonly Step[]]> = [
  ['Equal', ['ws?', '==', 'ws?']],
  ['Not Equal', ['ws?', '!=', 'ws?']],
  ['In', ['ws', 'contains', 'ws']],
  ['Not In', ['ws', 'not', 'ws', 'contains', 'ws']],
  ['Matches', ['ws', 'matches', 'ws']],
  ['Not Matches', ['ws', 'not', 'ws', 'matches', 'ws']],
];
const SELECTOR_OPERATORS: ReadonlyArray<readonly [MatchOperator, readonly Step[]]> = [
  ['Is Empty', ['ws', 'is', 'ws', 'empty']],
  ['Is Not Empty', ['ws', 'is', 'ws', 'not', 'ws', 'empty']],
];
const VALUE_SELECTOR_OPERATORS: ReadonlyArray<readonly [MatchOperator, readonly Step[]]> = [
  ['In', ['ws', 'in', 'ws']],
  ['Not In', ['ws', 'not', 'ws', 'in', 'ws']],
];

const isWhitespace = (c: string): boolean => c === ' ' || c === '\t' || c === '\r' || c === '\n';
const isLetter = (c: string): boolean => (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
const isDigit = (c: string): boolean => c >= '0' && c <= '9';
const isIdentChar = (c: string): boolean => isLetter(c) || isDigit(c) || c === '_';

/**
 * A backtracking recursive-descent parser, one method per grammar rule. Like pigeon it records, at the farthest
 * position any terminal failed, what it expected there (inverted inside `!`), and collects the errors raised by
 * the grammar's `&{ … }` predicates and actions; any such error fails the parse even if a later branch matched.
 */
class Parser {
  readonly #runes: string[];
  #pos = 0;
  #failPos = 0;
  #expected: string[] = [];
  #inverted = false;
  readonly #errors: string[] = [];
  // pigeon re-parses shared prefixes on every alternative; remembering the expression rules keeps nested
  // parentheses linear without changing what is recorded (a replay would only add duplicates).
  readonly #memo = new Map<string, { ast: FilterAst | undefined; end: number }>();

  constructor(input: string) {
    this.#runes = Array.from(input);
  }

  parse(): ParseResult {
    const ast = this.#input();
    if (this.#errors.length > 0) return { ok: false, error: [...new Set(this.#errors)].join('\n') };
    if (ast !== undefined) return { ok: true, ast };
    const expected = new Set(this.#expected);
    const eof = expected.delete('!.');
    const list = [...expected].sort(compareBytes);
    if (eof) list.push('EOF');
    return {
      ok: false,
      error: `${this.#position(this.#failPos)}: no match found, expected: ${listJoin(list)}`,
    };
  }

  // Input <- _? "(" _? OrExpression _? ")" _? EOF / _? OrExpression _? EOF
  #input(): FilterAst | undefined {
    const start = this.#pos;
    this.#ws0();
    if (this.#lit('(')) {
      this.#ws0();
      const inner = this.#or();
      if (inner !== undefined) {
        this.#ws0();
        if (this.#lit(')')) {
          this.#ws0();
          if (this.#eof()) return inner;
        }
      }
    }
    this.#pos = start;
    this.#ws0();
    const ast = this.#or();
    if (ast !== undefined) {
      this.#ws0();
      if (this.#eof()) return ast;
    }
    this.#pos = start;
    return undefined;
  }

  // OrExpression <- AndExpression _ "or" _ OrExpression / AndExpression
  #or(): FilterAst | undefined {
    return this.#memoized('or', () =>
      this.#binary(
        'or',
        () => this.#and(),
        () => this.#or(),
      ),
    );
  }

  // AndExpression <- NotExpression _ "and" _ AndExpression / NotExpression
  #and(): FilterAst | undefined {
    return this.#memoized('and', () =>
      this.#binary(
        'and',
        () => this.#not(),
        () => this.#and(),
      ),
    );
  }

  #binary(
    kind: 'and' | 'or',
    operand: () => FilterAst | undefined,
    rest: () => FilterAst | undefined,
  ): FilterAst | undefined {
    const start = this.#pos;
    const left = operand();
    if (left !== undefined && this.#ws1() && this.#lit(kind) && this.#ws1()) {
      const right = rest();
      if (right !== undefined) return { kind, left, right };
    }
    this.#pos = start;
    return operand();
  }

  // NotExpression <- "not" _ NotExpression / ParenthesizedExpression   (`not not x` is x)
  #not(): FilterAst | undefined {
    return this.#memoized('not', () => {
      const start = this.#pos;
      if (this.#lit('not') && this.#ws1()) {
        const operand = this.#not();
        if (operand !== undefined) return operand.kind === 'not' ? operand.operand : { kind: 'not', operand };
      }
      this.#pos = start;
      return this.#parenthesized();
    });
  }

  // ParenthesizedExpression "grouping" <- "(" _? OrExpression _? ")" / MatchExpression
  //                                     / "(" _? OrExpression _? !")" &{ Unmatched parentheses }
  #parenthesized(): FilterAst | undefined {
    return this.#memoized('grouping', () => {
      const start = this.#pos;
      if (this.#lit('(')) {
        this.#ws0();
        const inner = this.#or();
        if (inner !== undefined) {
          this.#ws0();
          if (this.#lit(')')) return inner;
        }
      }
      this.#pos = start;
      const match = this.#match();
      if (match !== undefined) return match;
      if (this.#lit('(')) {
        this.#ws0();
        if (this.#or() !== undefined) {
          this.#ws0();
          if (this.#not_(() => this.#lit(')'))) this.#error('grouping', 'Unmatched parentheses');
        }
      }
      this.#pos = start;
      return undefined;
    });
  }

  // MatchExpression "match" <- MatchSelectorOpValue / MatchSelectorOp / MatchValueOpSelector
  #match(): Match | undefined {
    return this.#selectorOpValue() ?? this.#selectorOp() ?? this.#valueOpSelector();
  }

  // MatchSelectorOpValue <- Selector (MatchEqual / MatchNotEqual / MatchContains / MatchNotContains
  //                                   / MatchMatches / MatchNotMatches) Value
  #selectorOpValue(): Match | undefined {
    const start = this.#pos;
    const selector = this.#selector();
    const operator = selector && this.#operator(SELECTOR_VALUE_OPERATORS);
    const value = operator && this.#value();
    if (selector && operator && value !== undefined) return { kind: 'match', selector, operator, value };
    this.#pos = start;
    return undefined;
  }

  // MatchSelectorOp <- Selector (MatchIsEmpty / MatchIsNotEmpty)
  #selectorOp(): Match | undefined {
    const start = this.#pos;
    const selector = this.#selector();
    const operator = selector && this.#operator(SELECTOR_OPERATORS);
    if (selector && operator) return { kind: 'match', selector, operator, value: undefined };
    this.#pos = start;
    return undefined;
  }

  // MatchValueOpSelector <- Value (MatchIn / MatchNotIn) Selector
  //                       / Value (MatchIn / MatchNotIn) !Selector &{ Invalid selector }
  #valueOpSelector(): Match | undefined {
    const start = this.#pos;
    for (const alternative of [1, 2]) {
      this.#pos = start;
      const value = this.#value();
      const operator = value !== undefined ? this.#operator(VALUE_SELECTOR_OPERATORS) : undefined;
      if (value === undefined || operator === undefined) continue;
      if (alternative === 1) {
        const selector = this.#selector();
        if (selector) return { kind: 'match', selector, operator, value };
      } else if (this.#not_(() => this.#selector() !== undefined)) {
        this.#error('match', 'Invalid selector');
      }
    }
    this.#pos = start;
    return undefined;
  }

  #operator(operators: ReadonlyArray<readonly [MatchOperator, readonly Step[]]>): MatchOperator | undefined {
    for (const [operator, steps] of operators) {
      const start = this.#pos;
      if (
        steps.every((step) => (step === 'ws' ? this.#ws1() : step === 'ws?' ? this.#ws0() : this.#lit(step)))
      ) {
        return operator;
      }
      this.#pos = start;
    }
    return undefined;
  }

  // Selector "selector" <- Identifier SelectorOrIndex*
  // SelectorOrIndex <- "." Identifier / IndexExpression
  #selector(): string[] | undefined {
    const first = this.#identifier();
    if (first === undefined) return undefined;
    const path = [first];
    for (;;) {
      const start = this.#pos;
      const next = this.#lit('.') ? this.#identifier() : undefined;
      if (next !== undefined) {
        path.push(next);
        continue;
      }
      this.#pos = start;
      const index = this.#index();
      if (index === undefined) return path;
      path.push(index);
    }
  }

  // Identifier <- [a-zA-Z] [a-zA-Z0-9_]*
  #identifier(): string | undefined {
    const start = this.#pos;
    if (!this.#cls('[a-zA-Z]', isLetter)) return undefined;
    while (this.#cls('[a-zA-Z0-9_]', isIdentChar));
    return this.#text(start);
  }

  // IndexExpression "index" <- "[" _? StringLiteral _? "]" / "[" _? !StringLiteral &{ Invalid index }
  //                          / "[" _? StringLiteral _? !"]" &{ Unclosed index expression }
  #index(): string | undefined {
    const start = this.#pos;
    if (this.#lit('[')) {
      this.#ws0();
      const key = this.#string();
      if (key !== undefined) {
        this.#ws0();
        if (this.#lit(']')) return key;
      }
    }
    this.#pos = start;
    if (this.#lit('[')) {
      this.#ws0();
      if (this.#not_(() => this.#string() !== undefined)) this.#error('index', 'Invalid index');
    }
    this.#pos = start;
    if (this.#lit('[')) {
      this.#ws0();
      if (this.#string() !== undefined) {
        this.#ws0();
        if (this.#not_(() => this.#lit(']'))) this.#error('index', 'Unclosed index expression');
      }
    }
    this.#pos = start;
    return undefined;
  }

  // Value "value" <- Selector / NumberLiteral / StringLiteral   (a selector value is its dotted text)
  #value(): string | undefined {
    return this.#selector()?.join('.') ?? this.#number() ?? this.#string();
  }

  // NumberLiteral "number" <- "-"? IntegerOrFloat &AfterNumbers
  //                         / "-"? IntegerOrFloat !AfterNumbers &{ Invalid number literal }
  // AfterNumbers <- &(_ / EOF / ")")
  #number(): string | undefined {
    const start = this.#pos;
    const afterNumbers = (): boolean => this.#and_(() => this.#ws1() || this.#eof() || this.#lit(')'));
    for (const alternative of [1, 2]) {
      this.#pos = start;
      this.#lit('-');
      if (!this.#integerOrFloat()) continue;
      if (alternative === 1 && afterNumbers()) return this.#text(start);
      if (alternative === 2 && this.#not_(afterNumbers)) this.#error('number', 'Invalid number literal');
    }
    this.#pos = start;
    return undefined;
  }

  // IntegerOrFloat <- ("0" / [1-9][0-9]*) ("." [0-9]+)?
  #integerOrFloat(): boolean {
    if (!this.#lit('0')) {
      if (!this.#cls('[1-9]', (c) => c >= '1' && c <= '9')) return false;
      while (this.#cls('[0-9]', isDigit));
    }
    const fraction = this.#pos;
    if (this.#lit('.') && this.#cls('[0-9]', isDigit)) while (this.#cls('[0-9]', isDigit));
    else this.#pos = fraction;
    return true;
  }

  // StringLiteral "string" <- ('`' RawStringChar* '`' / '"' DoubleStringChar* '"') { strconv.Unquote }
  //                         / ('`' RawStringChar* / '"' DoubleStringChar*) EOF &{ Unterminated string literal }
  // RawStringChar <- !'`' .    DoubleStringChar <- !'"' .
  #string(): string | undefined {
    const start = this.#pos;
    for (const quote of ['`', '"']) {
      this.#pos = start;
      if (!this.#quoted(quote) || !this.#lit(quote)) continue;
      const value = goUnquote(this.#text(start));
      if (value === undefined) this.#errors.push(`${this.#position(start)}: rule "string": invalid syntax`);
      return value ?? '';
    }
    this.#pos = start;
    if ((this.#quoted('`') || this.#quoted('"')) && this.#eof())
      this.#error('string', 'Unterminated string literal');
    this.#pos = start;
    return undefined;
  }

  #quoted(quote: string): boolean {
    if (!this.#lit(quote)) return false;
    while (this.#not_(() => this.#lit(quote)) && this.#any());
    return true;
  }

  // _ "whitespace" <- [ \t\r\n]+
  #ws1(): boolean {
    if (!this.#cls('[ \\t\\r\\n]', isWhitespace)) return false;
    while (this.#cls('[ \\t\\r\\n]', isWhitespace));
    return true;
  }

  #ws0(): boolean {
    this.#ws1();
    return true;
  }

  // EOF <- !.
  #eof(): boolean {
    return this.#not_(() => this.#any());
  }

  #lit(text: string): boolean {
    const start = this.#pos;
    const chars = Array.from(text);
    const matched = chars.every((char, i) => this.#runes[start + i] === char);
    this.#fail(matched, start, goQuote(text));
    if (matched) this.#pos = start + chars.length;
    return matched;
  }

  #cls(display: string, test: (char: string) => boolean): boolean {
    const char = this.#runes[this.#pos];
    const matched = char !== undefined && test(char);
    this.#fail(matched, this.#pos, display);
    if (matched) this.#pos++;
    return matched;
  }

  #any(): boolean {
    const matched = this.#pos < this.#runes.length;
    this.#fail(matched, this.#pos, '.');
    if (matched) this.#pos++;
    return matched;
  }

  // `!e`: succeeds where e fails, consumes nothing; what e expects inside is recorded inverted (`!.` is EOF).
  #not_(expression: () => boolean): boolean {
    const start = this.#pos;
    this.#inverted = !this.#inverted;
    const matched = expression();
    this.#inverted = !this.#inverted;
    this.#pos = start;
    return !matched;
  }

  // `&e`: succeeds where e does, consumes nothing.
  #and_(expression: () => boolean): boolean {
    const start = this.#pos;
    const matched = expression();
    this.#pos = start;
    return matched;
  }

  // pigeon's failAt: a failed terminal (or, inside `!`, a matched one) at the farthest position is expected.
  #fail(matched: boolean, at: number, want: string): void {
    if (matched !== this.#inverted || at < this.#failPos) return;
    if (at > this.#failPos) {
      this.#failPos = at;
      this.#expected = [];
    }
    this.#expected.push(this.#inverted ? `!${want}` : want);
  }

  #error(rule: string, message: string): void {
    this.#errors.push(`${this.#position(this.#pos)}: rule "${rule}": ${message}`);
  }

  #memoized(rule: string, parse: () => FilterAst | undefined): FilterAst | undefined {
    const key = `${rule}:${this.#pos}:${this.#inverted}`;
    const known = this.#memo.get(key);
    if (known !== undefined) {
      if (known.ast !== undefined) this.#pos = known.end;
      return known.ast;
    }
    const ast = parse();
    this.#memo.set(key, { ast, end: this.#pos });
    return ast;
  }

  #text(start: number): string {
    return this.#runes.slice(start, this.#pos).join('');
  }

  // pigeon's `line:col (offset)`: col counts runes, offset counts UTF-8 bytes, and a newline is col 0 of the next line.
  #position(at: number): string {
    let line = 1;
    let lineStart = -1;
    let offset = 0;
    for (let i = 0; i <= at && i < this.#runes.length; i++) {
      const char = this.#runes[i] as string;
      if (char === '\n') {
        line++;
        lineStart = i;
      }
      if (i < at) offset += Buffer.byteLength(char);
    }
    return `${line}:${at - lineStart} (${offset})`;
  }
}

// Go's sort.Strings order (bytes), not UTF-16 order; the texts here are ASCII except quoted input.
function compareBytes(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}

// pigeon's listJoin: `a, b or c`.
function listJoin(list: readonly string[]): string {
  if (list.length <= 1) return list.join('');
  return `${list.slice(0, -1).join(', ')} or ${list[list.length - 1]}`;
}

const SIMPLE_ESCAPES: Readonly<Record<string, string>> = {
  a: '\x07',
  b: '\b',
  f: '\f',
  n: '\n',
  r: '\r',
  t: '\t',
  v: '\v',
  '\\': '\\',
  '"': '"',
};
const HEX_DIGITS: Readonly<Record<string, number>> = { x: 2, u: 4, U: 8 };

/**
 * Go's `strconv.Unquote` for the two quotings the grammar allows; `undefined` is its `invalid syntax`. A raw
 * string loses its carriage returns; a double-quoted one takes Go's escapes and may not hold a bare newline.
 */
export function goUnquote(quoted: string): string | undefined {
  const body = quoted.slice(1, -1);
  if (quoted.startsWith('`')) return body.replaceAll('\r', '');
  let out = '';
  for (let i = 0; i < body.length; i++) {
    const char = body[i] as string;
    if (char === '\n') return undefined;
    if (char !== '\\') {
      out += char;
      continue;
    }
    const letter = body[++i];
    if (letter === undefined) return undefined;
    const simple = SIMPLE_ESCAPES[letter];
    const hexLength = HEX_DIGITS[letter];
    if (simple !== undefined) {
      out += simple;
    } else if (hexLength !== undefined) {
      const digits = body.slice(i + 1, i + 1 + hexLength);
      if (!/^[0-9a-fA-F]+$/.test(digits) || digits.length !== hexLength) return undefined;
      const code = Number.parseInt(digits, 16);
      if (letter !== 'x' && (code > 0x10ffff || (code >= 0xd800 && code <= 0xdfff))) return undefined;
      out += String.fromCodePoint(code);
      i += hexLength;
    } else if (letter >= '0' && letter <= '7') {
      const digits = body.slice(i, i + 3);
      if (!/^[0-7]{3}$/.test(digits) || Number.parseInt(digits, 8) > 255) return undefined;
      out += String.fromCodePoint(Number.parseInt(digits, 8));
      i += 2;
    } else {
      return undefined;
    }
  }
  return out;
}

/** Parses `expression` with go-bexpr's grammar. */
export function parseExpression(expression: string): ParseResult {
  return new Parser(expression).parse();
}
