/**
 * The lexical layer shared by the ident daemon's system config and its
 * per-user files: a file split into numbered lines, each line split into
 * words. See docs/IDENTD-CONFIG.md.
 *
 * @packageDocumentation
 */

/**
 * A problem in a config file, at a line (1-based; 0 when it concerns the
 * whole file, such as a file that cannot be read). The message reads
 * `file:line: problem`, or `file: problem` for line 0.
 */
export class ConfigError extends Error {
  /**
   * @param file - the file's path as given
   * @param line - the 1-based line, or 0 for the whole file
   * @param problem - what is wrong, without the location
   */
  constructor(
    readonly file: string,
    readonly line: number,
    readonly problem: string,
  ) {
    super(line > 0 ? `${file}:${line}: ${problem}` : `${file}: ${problem}`);
    this.name = 'ConfigError';
  }
}

/** One line that holds more than a comment. */
export interface ConfigLine {
  /** 1-based line number. */
  line: number;
  /** Its words, quotes removed and escapes resolved. */
  words: string[];
}

/**
 * Splits `data` into lines and each line into words, dropping blank lines
 * and comments. Throws {@link ConfigError} at the first line that is not
 * UTF-8, holds a control character other than tab (a CR before the LF
 * is allowed), or has a bad quoted word.
 */
export function configLines(data: Buffer, file: string): ConfigLine[] {
  const decoder = new TextDecoder('utf-8', { fatal: true });
  const out: ConfigLine[] = [];
  let start = 0;
  for (let n = 1; start < data.length; n++) {
    let end = data.indexOf(0x0a, start);
    if (end < 0) end = data.length;
    let text: string;
    try {
      text = decoder.decode(data.subarray(start, end));
    } catch {
      throw new ConfigError(file, n, 'not UTF-8 text');
    }
    start = end + 1;
    if (text.endsWith('\r')) text = text.slice(0, -1);
    let words: string[];
    try {
      words = splitWords(text);
    } catch (err) {
      throw new ConfigError(file, n, (err as Error).message);
    }
    if (words.length > 0) out.push({ line: n, words });
  }
  return out;
}

// Tab is whitespace; every other C0 control, DEL and the C1 controls are
// refused, so no text from a config can smuggle a line break into a reply.
// eslint-disable-next-line no-control-regex
const CONTROL = /[\x00-\x08\x0a-\x1f\x7f-\x9f]/;

/**
 * The words of one line: separated by spaces and tabs; `#` outside quotes
 * starts a comment; a double-quoted word may hold spaces, `#`, and the
 * escapes `\"` and `\\`. Throws an Error naming the problem.
 */
export function splitWords(text: string): string[] {
  const bad = CONTROL.exec(text);
  if (bad !== null) {
    throw new Error(`control character U+${bad[0].charCodeAt(0).toString(16).padStart(4, '0').toUpperCase()} is not allowed`);
  }
  const words: string[] = [];
  let i = 0;
  while (i < text.length) {
    const c = text[i];
    if (c === ' ' || c === '\t') {
      i++;
    } else if (c === '#') {
      break;
    } else if (c === '"') {
      let word = '';
      let j = i + 1;
      for (;;) {
        if (j >= text.length) throw new Error('unterminated quoted string');
        const d = text[j];
        if (d === '"') break;
        if (d === '\\') {
          const e = text[j + 1];
          if (e !== '"' && e !== '\\') throw new Error(e === undefined ? 'a backslash ends the line' : `unknown escape \\${e} (only \\" and \\\\)`);
          word += e;
          j += 2;
        } else {
          word += d;
          j++;
        }
      }
      i = j + 1;
      // `"a"b` is more likely a typo than one word: say so.
      if (i < text.length && text[i] !== ' ' && text[i] !== '\t' && text[i] !== '#') {
        throw new Error('a quoted string must be followed by a space, a tab or the end of the line');
      }
      words.push(word);
    } else {
      let j = i;
      while (j < text.length && text[j] !== ' ' && text[j] !== '\t' && text[j] !== '#') {
        if (text[j] === '"') throw new Error('a quote inside a word; quote the whole word');
        j++;
      }
      words.push(text.slice(i, j));
      i = j;
    }
  }
  return words;
}
