/**
 * Escaping for the places people read text: terminals (CLI stdout/stderr, the
 * console chat, the bot's log) and chat messages (Telegram, Slack).
 *
 * Text that came from input or from a host can carry characters a terminal or
 * a chat client acts on instead of showing: ESC sequences retitle or repaint a
 * terminal (`triage run $'\e]0;pwned\a' s9`), U+009B is a one-character CSI,
 * `\r`, `\b`, `\v` and `\f` move the cursor over what was printed, U+2028,
 * U+2029 and U+0085 break lines where nobody wrote a newline, and bidi
 * overrides and isolates (U+202A–U+202E, U+2066–U+2069) make text read
 * differently from what it is. Each of those becomes a visible escape:
 *
 * - C0 controls (U+0000–U+001F): `\x1b`, `\x07`, `\x0b`, …; `\n`, `\r`, `\t` by name;
 * - DEL, C1 (U+0080–U+009F), the line separators and bidi controls: `\u007f`, `\u009b`, `\u2028`, `\u202e`.
 *
 * Every form is also a valid escape inside a JSON string, and JSON.stringify
 * leaves no raw C0 in its output, so escaping `--json` text keeps it valid
 * JSON that parses back to the same data.
 *
 * Two strengths: {@link escapeText} for blocks whose newlines are meant
 * (host output in a thread, Triage's own multi-line output), and
 * {@link escapeLine} for single-line fields (titles, error messages, an
 * argument echoed back), where a newline from input is escaped too. Escaping
 * is idempotent: the escapes themselves are printable ASCII.
 *
 * Deliberately left out: backslashes are not doubled (the escapes are for
 * reading, not for decoding back), and zero-width or look-alike characters
 * are left alone (they do not move the cursor or reorder text).
 */

/** What {@link escapeText} escapes: every control character except `\n` and `\t`, plus the separators and bidi controls. */
const IN_TEXT = /[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;
/** What {@link escapeLine} escapes: the same, plus `\n` and `\t`. */
const IN_LINE = /[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

const NAMED: Record<string, string> = { '\n': '\\n', '\r': '\\r', '\t': '\\t' };

/** The visible form of one character: `\n`, `\x1b`, `\u009b`, `\u2028`. */
function visible(ch: string): string {
  const named = NAMED[ch];
  if (named) return named;
  const code = ch.charCodeAt(0);
  return code < 0x20 ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`;
}

/**
 * For a block of text: keeps `\n` and `\t`, turns `\r\n` into `\n`, escapes
 * every other control character, line separator and bidi control.
 */
export function escapeText(s: string): string {
  return s.replace(/\r\n/g, '\n').replace(IN_TEXT, visible);
}

/** For a single-line field: like {@link escapeText}, and `\n`, `\r`, `\t` are escaped too. */
export function escapeLine(s: string): string {
  return s.replace(IN_LINE, visible);
}

