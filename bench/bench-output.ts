/** How the benches write progress (to stderr) and figures. */

export function log(message: string): void {
  process.stderr.write(`  ${message}\n`);
}

export const fmt = (value: number, digits = 0) => (Number.isFinite(value) ? value.toFixed(digits) : 'n/a');
