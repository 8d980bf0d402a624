/**
 * `work` over `items` with at most `limit` running at a time; results in the items' order. Once `keepGoing`
 * says no, no further item is started (its result stays undefined). Used by the reader (part HEADs) and by
 * the tools (verify, backfill, local mode's before/after looks).
 */
export async function mapLimited<T, R>(
  items: readonly T[],
  limit: number,
  work: (item: T, index: number) => Promise<R>,
  keepGoing: () => boolean = () => true,
): Promise<Array<R | undefined>> {
  const results = new Array<R | undefined>(items.length).fill(undefined);
  let next = 0;
  const worker = async () => {
    while (next < items.length && keepGoing()) {
      const index = next++;
      results[index] = await work(items[index], index);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
  return results;
}
