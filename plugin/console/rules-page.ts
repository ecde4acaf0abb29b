import type { RuleInput, RuleView } from '../access-table';
import { describePreview, type RuleChange, type RulePreview } from '../rule-changes';
import { type Html, html } from './html';
import { buttonForm, type ConsoleContext, csrfField, emptyRow } from './layout';

const HEAD = ['Subject', 'Service', 'Effect', 'Reason', 'From', ''] as const;

function effect(allow: boolean): Html {
  return allow ? html`<span class="allow">allow</span>` : html`<span class="deny">deny</span>`;
}

function ruleRow(context: ConsoleContext, rule: RuleView): Html {
  const root = `${context.base}/console/rules`;
  const actions =
    rule.origin === 'api'
      ? html`<a href="${root}?edit=${encodeURIComponent(rule.id)}">Change</a> ${buttonForm(context, `${root}/preview`, 'Remove', { op: 'remove', id: rule.id })}`
      : html`<small>change it in the config file</small>`;
  return html`<tr data-rule="${rule.id}"><td>${rule.subject}</td><td>${rule.service}</td><td>${effect(rule.allow)}</td>
<td>${rule.reason}</td><td>${rule.origin === 'api' ? 'console / API' : 'config file'}</td><td>${actions}</td></tr>`;
}

/** The form that proposes a new rule, or a change to `editing`; it leads to the preview, never straight to the change. */
function ruleForm(context: ConsoleContext, editing: RuleView | undefined): Html {
  const rule: Partial<RuleInput> = editing ?? {};
  const allow = rule.allow ?? false;
  return html`<form method="post" action="${context.base}/console/rules/preview">${csrfField(context)}
<input type="hidden" name="op" value="${editing ? 'change' : 'add'}">${editing ? html`<input type="hidden" name="id" value="${editing.id}">` : ''}
<fieldset><legend>${editing ? 'Change the rule' : 'Add a rule'}</legend>
<label>Subject <input name="subject" required value="${rule.subject ?? ''}" placeholder="user:alice, department=sales, authenticated"></label>
<label>Service <input name="service" required value="${rule.service ?? ''}" placeholder="pop3, smtp, *"></label>
<label>Effect <select name="effect"><option value="allow"${allow ? html` selected` : ''}>allow</option><option value="deny"${allow ? '' : html` selected`}>deny</option></select></label>
<label>Reason <input name="reason" value="${rule.reason ?? ''}" placeholder="shown to a refused client"></label>
<button type="submit">Show the effect…</button>${editing ? html` <a href="${context.base}/console/rules">Cancel</a>` : ''}
</fieldset></form>`;
}

/** The rules page: the access table, config rules first, and the form to add a rule (or change one, `?edit=<id>`). */
export function rulesBody(context: ConsoleContext, rules: readonly RuleView[], editing?: RuleView, error?: string): Html {
  const rows =
    rules.length === 0 ? emptyRow(HEAD.length, 'No rule: everyone is denied everything.') : rules.map((rule) => ruleRow(context, rule));
  return html`${error ? html`<p class="error" role="alert">${error}</p>` : ''}
<p>The most specific rule for a user and a service decides (a user before an attribute, before authenticated, before anonymous; then a named service before *; then deny before allow); with none, the answer is deny.</p>
<div class="scroll"><table><thead><tr>${HEAD.map((cell) => html`<th>${cell}</th>`)}</tr></thead><tbody>${rows}</tbody></table></div>
${ruleForm(context, editing)}`;
}

/** A change in words: "add: deny user:alice pop3". */
export function describeChange(change: RuleChange, rules: readonly RuleView[]): string {
  const words = (rule: Partial<RuleInput>) =>
    `${rule.allow ? 'allow' : 'deny'} ${rule.subject} ${rule.service}${rule.reason ? ` ("${rule.reason}")` : ''}`;
  if (change.op === 'add') return `Add the rule: ${words(change.rule)}`;
  const current = rules.find((rule) => rule.id === change.id);
  if (change.op === 'remove') return `Remove the rule: ${current ? words(current) : change.id}`;
  return `Change the rule ${current ? words(current) : change.id} to: ${words({ ...current, ...change.patch })}`;
}

/** The fields that carry a change from the preview to its confirmation. */
function changeFields(change: RuleChange): Record<string, string> {
  if (change.op === 'remove') return { op: 'remove', id: change.id };
  const rule = change.op === 'add' ? change.rule : change.patch;
  return {
    op: change.op,
    ...(change.op === 'change' ? { id: change.id } : {}),
    subject: rule.subject ?? '',
    service: rule.service ?? '',
    effect: rule.allow ? 'allow' : 'deny',
    reason: rule.reason ?? '',
  };
}

/** The preview: the change, what it does to the open relays (computed by the gateway from the relays open now), and Confirm. */
export function previewBody(context: ConsoleContext, change: RuleChange, rules: readonly RuleView[], preview: RulePreview): Html {
  const closes = preview.closes && preview.denied.length > 0;
  const list = preview.denied.map(
    (relay) => html`<li>${relay.user} ${relay.service} from ${relay.client}${relay.server ? html` to ${relay.server}` : ''}</li>`,
  );
  return html`<p>${describeChange(change, rules)}</p>
<p class="effect${closes ? ' closes' : ''}" id="effect" data-denied="${preview.denied.length}">${describePreview(preview)}</p>
${list.length > 0 ? html`<ul>${list}</ul>` : ''}
${buttonForm(context, `${context.base}/console/rules/apply`, 'Confirm', changeFields(change))} <a href="${context.base}/console/rules">Cancel</a>`;
}
