/**
 * The `.vnet` concrete-syntax parser: a pure chevrotain `CstParser` (no embedded actions). It
 * recognises the generic shape of a spec (blocks of entries, values, calls); which blocks, keys
 * and layer kinds exist is decided by the checker (`src/semantics`). `grammar/vnet.ebnf` is the
 * normative, human-readable form of these rules; `grammar/cst.d.ts` is generated from them.
 *
 * The grammar is LL(2) (only `arg` and the optional trailing commas need the second token).
 * Recovery is on, so one parse reports every syntax error of a file. Build the parser once per
 * process (`vnetParser`): self-analysis is the expensive part.
 */
import {
  CstParser,
  EOF,
  tokenLabel,
  type CstNode,
  type IParserErrorMessageProvider,
  type IToken,
  type TokenType,
} from 'chevrotain';
import {
  allTokens,
  Arrow,
  Colon,
  Comma,
  Equals,
  Identifier,
  LBracket,
  LCurly,
  LParen,
  Minus,
  NumberLit,
  RBracket,
  RCurly,
  RParen,
  Shape,
  Slash,
  StringLit,
} from './tokens.js';

/** Options for building a parser; tests turn grammar validations on. */
export interface ParserOptions {
  readonly validate: boolean;
  readonly errorMessageProvider?: IParserErrorMessageProvider;
}

export class VnetParser extends CstParser {
  constructor(options: ParserOptions) {
    super([...allTokens], {
      recoveryEnabled: true,
      maxLookahead: 2,
      nodeLocationTracking: 'onlyOffset',
      skipValidations: !options.validate,
      ...(options.errorMessageProvider ? { errorMessageProvider: options.errorMessageProvider } : {}),
    });
    this.performSelfAnalysis();
  }

  /** spec = { block } ; */
  public spec = this.RULE('spec', () => {
    this.MANY(() => this.SUBRULE(this.block));
  });

  /** block = Identifier [ Identifier ] body ;  e.g. `network mlp { ... }`, `train { ... }` */
  public block = this.RULE('block', () => {
    this.CONSUME(Identifier, { LABEL: 'kind' });
    this.OPTION(() => this.CONSUME2(Identifier, { LABEL: 'name' }));
    this.SUBRULE(this.body);
  });

  /** body = "{" { entry } "}" ; */
  public body = this.RULE('body', () => {
    this.CONSUME(LCurly);
    this.MANY(() => this.SUBRULE(this.entry));
    this.CONSUME(RCurly);
  });

  /** entry = Identifier [ "=" value | body | args ] ;  `key = v`, `key { ... }`, `relu`, `dense(10)` */
  public entry = this.RULE('entry', () => {
    this.CONSUME(Identifier, { LABEL: 'key' });
    this.OPTION(() =>
      this.OR([
        {
          ALT: () => {
            this.CONSUME(Equals);
            this.SUBRULE(this.value);
          },
        },
        { ALT: () => this.SUBRULE(this.body) },
        { ALT: () => this.SUBRULE(this.args) },
      ]),
    );
  });

  /** args = "(" [ arg { "," arg } [ "," ] ] ")" ; */
  public args = this.RULE('args', () => {
    this.CONSUME(LParen);
    this.OPTION(() => {
      this.SUBRULE(this.arg);
      this.MANY(() => {
        this.CONSUME(Comma);
        this.SUBRULE2(this.arg);
      });
      this.OPTION2(() => this.CONSUME2(Comma));
    });
    this.CONSUME(RParen);
  });

  /** arg = Identifier ":" value | value ; */
  public arg = this.RULE('arg', () => {
    this.OR([
      {
        ALT: () => {
          this.CONSUME(Identifier, { LABEL: 'name' });
          this.CONSUME(Colon);
          this.SUBRULE(this.value);
        },
      },
      { ALT: () => this.SUBRULE2(this.value) },
    ]);
  });

  /** value = atom [ "->" atom ] ;  a range `0.01 -> 0` when the arrow is present */
  public value = this.RULE('value', () => {
    this.SUBRULE(this.atom, { LABEL: 'from' });
    this.OPTION(() => {
      this.CONSUME(Arrow);
      this.SUBRULE2(this.atom, { LABEL: 'to' });
    });
  });

  /** atom = number | Shape | String | list | Identifier [ args ] ; */
  public atom = this.RULE('atom', () => {
    this.OR([
      { ALT: () => this.SUBRULE(this.number) },
      { ALT: () => this.CONSUME(Shape) },
      { ALT: () => this.CONSUME(StringLit) },
      { ALT: () => this.SUBRULE(this.list) },
      {
        ALT: () => {
          this.CONSUME(Identifier);
          this.OPTION(() => this.SUBRULE(this.args));
        },
      },
    ]);
  });

  /** number = [ "-" ] Number [ "/" [ "-" ] Number ] ;  `0.1`, `-2`, `8/255`, `1e-3` */
  public number = this.RULE('number', () => {
    this.OPTION(() => this.CONSUME(Minus, { LABEL: 'sign' }));
    this.CONSUME(NumberLit, { LABEL: 'numerator' });
    this.OPTION2(() => {
      this.CONSUME(Slash);
      this.OPTION3(() => this.CONSUME2(Minus, { LABEL: 'denominatorSign' }));
      this.CONSUME2(NumberLit, { LABEL: 'denominator' });
    });
  });

  /** list = "[" [ value { "," value } [ "," ] ] "]" ; */
  public list = this.RULE('list', () => {
    this.CONSUME(LBracket);
    this.OPTION(() => {
      this.SUBRULE(this.value);
      this.MANY(() => {
        this.CONSUME(Comma);
        this.SUBRULE2(this.value);
      });
      this.OPTION2(() => this.CONSUME2(Comma));
    });
    this.CONSUME(RBracket);
  });
}

/** Tokens that can start a value (used to spot a missing `=` after an option key). */
const VALUE_STARTS: ReadonlySet<TokenType> = new Set([NumberLit, Shape, StringLit, LBracket, Minus]);

/** How a token is named in a message: `'}'`, `'dense'`, or "the end of the file". */
function describeToken(t: IToken): string {
  if (t.tokenType === EOF) return 'the end of the file';
  return `'${clip(t.image)}'`;
}

/** A token's text for a message: at most 24 characters (a 10 MB name is not echoed). */
const clip = (image: string): string => (image.length > 24 ? `${image.slice(0, 24)}...` : image);

/**
 * The token just before `t` in the parser's input. (Chevrotain's `previous` is wrong for errors
 * found during in-repetition recovery: it is read after the re-sync has skipped tokens.)
 */
function tokenBefore(t: IToken): IToken | undefined {
  const input = vnetParser.input;
  // EOF has no offset: the token before it is the last real one.
  if (t.tokenType === EOF || !Number.isFinite(t.startOffset))
    return input.findLast((u) => u.tokenType !== EOF && Number.isFinite(u.startOffset));
  let lo = 0;
  let hi = input.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (input[mid]!.startOffset < t.startOffset) lo = mid + 1;
    else hi = mid;
  }
  return input[lo - 1];
}

const TOP_LEVEL = (found: string) => `expected a block such as \`network NAME { ... }\` but found ${found}`;

/** What a failed alternative of a rule was looking for. */
const RULE_EXPECTS: Readonly<Record<string, string>> = {
  atom: 'a value (a number, shape, name, string or list)',
  arg: 'an argument',
  entry: "'=', '{' or '('",
};

/**
 * Messages for syntax errors, worded for users: token labels instead of token type names, and a
 * targeted hint for the most common slips (a missing `=`, a missing `,`).
 */
export const vnetErrorMessages: IParserErrorMessageProvider = {
  buildMismatchTokenMessage({ expected, actual, ruleName }) {
    const found = describeToken(actual);
    if (expected === EOF) return TOP_LEVEL(found);
    if (expected === RCurly && (ruleName === 'body' || ruleName === 'spec')) {
      const previous = tokenBefore(actual);
      if (previous?.tokenType === Identifier && VALUE_STARTS.has(actual.tokenType))
        return `expected '=' between ${describeToken(previous)} and ${found}`;
      const equals = previous && tokenBefore(previous);
      const key = equals && tokenBefore(equals);
      if (actual.tokenType === Equals && previous?.tokenType === Identifier && equals?.tokenType === Equals)
        return `'${clip(key?.image ?? '')} =' has no value (${describeToken(previous)} was read as its value)`;
      return `expected an entry (such as \`key = value\`) or '}' but found ${found}`;
    }
    if (expected === LCurly && ruleName === 'body') {
      // Only a top-level block header can be followed by something other than '{' here.
      const hint =
        actual.tokenType === Equals ? ' (options go inside a block, such as `train { epochs = 10 }`)' : '';
      const before = tokenBefore(actual);
      return `expected '{' after ${before ? describeToken(before) : 'the block name'} but found ${found}${hint}`;
    }
    if (expected === RParen && ruleName === 'args') return `expected ',' or ')' but found ${found}`;
    if (expected === RBracket && ruleName === 'list') return `expected ',' or ']' but found ${found}`;
    return `expected ${tokenLabel(expected)} but found ${found}`;
  },
  buildNotAllInputParsedMessage({ firstRedundant }) {
    return TOP_LEVEL(describeToken(firstRedundant));
  },
  buildNoViableAltMessage({ expectedPathsPerAlt, actual, ruleName }) {
    const first = actual[0]!;
    const wanted =
      RULE_EXPECTS[ruleName] ??
      [...new Set(expectedPathsPerAlt.flatMap((alt) => alt.map((path) => tokenLabel(path[0]!))))].join(', ');
    return `expected ${wanted} but found ${describeToken(first)}`;
  },
  buildEarlyExitMessage({ actual, ruleName }) {
    return `unexpected ${describeToken(actual[0]!)} in ${ruleName}`;
  },
};

/** The process-wide parser (grammar validations run only under the test runner). */
export const vnetParser: VnetParser = new VnetParser({
  validate: globalThis.process?.env?.['VITEST'] !== undefined,
  errorMessageProvider: vnetErrorMessages,
});

/** Parses `tokens` with the singleton parser; `vnetParser.errors` then holds every syntax error. */
export function parseTokens(tokens: IToken[]): CstNode {
  vnetParser.input = tokens;
  return vnetParser.spec();
}
