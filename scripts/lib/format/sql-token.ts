/** One token of a SQL statement, as both engines' lexers give it (sql/tokens.ts, format/mysql-lexer.ts). */
export type TokenKind = 'word' | 'ident' | 'string' | 'number' | 'punct' | 'meta';

export interface Token {
  kind: TokenKind;
  /** Upper-case for words; the text for numbers and punctuation; '' for quoted parts. */
  value: string;
  /** A quoted identifier's or a string's content, unquoted and unescaped. */
  text?: string;
}
