/** What a visited gateway keeps of a home's attributes, and what it sets. */
export interface AttributeMapping {
  keep: readonly string[];
  set: Readonly<Record<string, string>>;
}

/**
 * A visitor's attributes here: the kept ones from home, then the peer's
 * fixed ones, then `realm` (always, last, so no home can claim another realm).
 */
export function mapAttributes(home: Readonly<Record<string, string>>, mapping: AttributeMapping, realm: string): Record<string, string> {
  const mapped: Record<string, string> = {};
  for (const name of mapping.keep) if (Object.hasOwn(home, name)) mapped[name] = home[name];
  return { ...mapped, ...mapping.set, realm };
}
