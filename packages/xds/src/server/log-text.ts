/**
 * Making client- and file-supplied text safe to put on one log line.
 *
 * Anything that reaches the log from outside the process (a NACK's `error_detail`, a node id,
 * a peer address, a YAML key or value echoed in a diagnostic) could otherwise carry a newline
 * and forge a log line, or an escape sequence that rewrites the operator's terminal.
 */

const NAMED: Readonly<Record<string, string>> = {
  "\n": "\\n",
  "\r": "\\r",
  "\t": "\\t",
  "\u001b": "\\x1b",
  "\u2028": "\\u2028",
  "\u2029": "\\u2029",
};

// C0 controls, DEL, C1 controls and the two Unicode line/paragraph separators.
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g;

/**
 * Escapes control characters (C0, DEL, C1, U+2028/U+2029) so `text` stays on one line and
 * cannot drive a terminal; truncates to `maxLength` characters of input with a marker saying how
 * much was cut. Printable text, including non-ASCII letters, is left as it is.
 *
 * @example
 * escapeControl("bad\nFAKE LOG LINE"); // "bad\\nFAKE LOG LINE"
 * escapeControl("\u001b[2J"); // "\\x1b[2J"
 * escapeControl("x".repeat(2000), 10); // "xxxxxxxxxx…(+1990 chars)"
 */
export function escapeControl(text: string, maxLength = 1024): string {
  const s = String(text);
  const cut = s.length > maxLength ? s.slice(0, Math.max(0, maxLength)) : s;
  const escaped = cut.replace(
    CONTROL,
    (c) => NAMED[c] ?? `\\x${c.charCodeAt(0).toString(16).padStart(2, "0")}`,
  );
  return s.length > cut.length ? `${escaped}…(+${s.length - cut.length} chars)` : escaped;
}
