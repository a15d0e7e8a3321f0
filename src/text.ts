/** Small text helpers shared by messages. */

/** One line, at most `max` characters, for echoing user input back in an error. */
export function clip(s: string, max = 40): string {
  const one = s.replace(/[\r\n\t]/g, ' ');
  return one.length > max ? `${one.slice(0, max)}…` : one;
}
