/**
 * S3's event sequencer: a hexadecimal string that orders the events of ONE key. S3 documents how to
 * compare two of them: left-pad the shorter with zeros, then compare lexicographically. Sequencers of
 * different keys are not comparable.
 */

/** Negative when `a` happened before `b`, zero for the same event, positive when after. */
export function compareSequencers(a: string, b: string): number {
  const x = normalize(a);
  const y = normalize(b);
  const width = Math.max(x.length, y.length);
  const px = x.padStart(width, "0");
  const py = y.padStart(width, "0");
  return px < py ? -1 : px > py ? 1 : 0;
}

export function isValidSequencer(value: unknown): value is string {
  return typeof value === "string" && /^[0-9A-Fa-f]{1,64}$/.test(value);
}

function normalize(sequencer: string): string {
  if (!isValidSequencer(sequencer)) throw new Error(`"${sequencer}" is not an S3 sequencer (hexadecimal digits)`);
  return sequencer.toUpperCase();
}
