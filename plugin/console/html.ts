import { escapeHtml } from '../login-page';

/** Markup already escaped: what `html` returns, inserted by another `html` as it is. */
export class Html {
  constructor(readonly text: string) {}

  toString(): string {
    return this.text;
  }
}

/** Each value as markup: Html as it is, arrays joined, nothing for undefined/null/false, anything else escaped. */
function render(value: unknown): string {
  if (value instanceof Html) return value.text;
  if (Array.isArray(value)) return value.map(render).join('');
  if (value === undefined || value === null || value === false) return '';
  return escapeHtml(String(value));
}

/**
 * A template of markup whose every interpolated value is escaped unless it is Html itself, so that a page cannot
 * forget to escape a user id, an address or an audit detail.
 * @example html`<td>${user.id}</td>` // a user id of <script> shows as text
 */
export function html(strings: TemplateStringsArray, ...values: unknown[]): Html {
  let text = strings[0];
  for (let i = 0; i < values.length; i++) text += render(values[i]) + strings[i + 1];
  return new Html(text);
}

/** A time as the console shows it: ISO 8601 to the second, UTC. */
export function formatTime(at: number | undefined): string {
  return at === undefined ? '' : new Date(at).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** A duration as the console shows it: `42 s`, `3 min 5 s`, `2 h 10 min`. */
export function formatDuration(ms: number): string {
  const seconds = Math.floor(ms / 1000);
  if (seconds < 60) return `${seconds} s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes} min ${seconds % 60} s`;
  return `${Math.floor(minutes / 60)} h ${minutes % 60} min`;
}

/** A byte count as the console shows it: `812 B`, `14.2 KiB`, `3.1 MiB`. */
export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value.toFixed(1)} ${units[unit]}`;
}
