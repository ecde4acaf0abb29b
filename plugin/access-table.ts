import { randomUUID } from 'node:crypto';
import type { AccessDecision } from '../access-decision';
import { systemClock, type Clock } from '../clock';
import type { Identity } from '../identity';
import type { RuleRecord, Store } from '../store/store';
import { AccessDecisions } from './access-policy';
import type { AccessRule } from './options';

/** A rule as listed: where it came from decides whether the API may change it. */
export interface RuleView extends AccessRule {
  id: string;
  origin: 'config' | 'api';
}

export type RuleInput = Pick<AccessRule, 'subject' | 'service' | 'allow'> & { reason?: string };

/**
 * The access table: rules from the config file (read-only, ids `config:N`)
 * and rules managed through the admin API (kept in the store, so a restart
 * keeps them). Decisions read the in-memory copy; a change applies to the
 * next connection and is announced so open relays can be re-checked.
 */
export class AccessTable {
  private apiRules: RuleRecord[] = [];
  private configRules: RuleView[];
  private rules: AccessRule[];
  /** Decisions over `rules`, made once each; replaced with the rules. */
  private decisions: AccessDecisions;
  private readonly listeners = new Set<() => void>();

  constructor(
    configRules: readonly AccessRule[],
    private readonly store: Store,
    private readonly clock: Clock = systemClock,
  ) {
    this.configRules = configViews(configRules);
    this.rules = [...this.configRules];
    this.decisions = new AccessDecisions(this.rules);
  }

  /** Replaces the rules from the config file (a reload); announced like any change, so open relays are checked again. */
  setConfigRules(configRules: readonly AccessRule[]): void {
    this.configRules = configViews(configRules);
    this.changed();
  }

  async load(): Promise<void> {
    this.apiRules = await this.store.rules.list();
    this.rebuild();
  }

  /** Reads the API rules again (another process changed them); open relays are re-checked as after any change. */
  async reload(): Promise<void> {
    this.apiRules = await this.store.rules.list();
    this.changed();
  }

  decide(identity: Identity, service: string): AccessDecision {
    return this.decisions.decide(identity, service);
  }

  list(): RuleView[] {
    return [...this.configRules, ...this.apiRules.map((rule) => view(rule))];
  }

  get(id: string): RuleView | undefined {
    return this.list().find((rule) => rule.id === id);
  }

  async add(input: RuleInput): Promise<RuleView> {
    const at = this.clock.now();
    const record: RuleRecord = {
      id: randomUUID(),
      subject: input.subject,
      service: input.service,
      allow: input.allow,
      ...(input.reason === undefined ? {} : { reason: input.reason }),
      createdAt: at,
      updatedAt: at,
    };
    await this.store.rules.put(record);
    this.apiRules.push(record);
    this.changed();
    return view(record);
  }

  /** Changes an API rule; undefined when there is no such API rule. */
  async update(id: string, patch: Partial<RuleInput>): Promise<RuleView | undefined> {
    const index = this.apiRules.findIndex((rule) => rule.id === id);
    if (index === -1) return undefined;
    const merged: RuleRecord = { ...this.apiRules[index], ...patch, updatedAt: this.clock.now() };
    if (merged.reason === undefined) delete merged.reason;
    await this.store.rules.put(merged);
    this.apiRules[index] = merged;
    this.changed();
    return view(merged);
  }

  async remove(id: string): Promise<boolean> {
    const index = this.apiRules.findIndex((rule) => rule.id === id);
    if (index === -1) return false;
    await this.store.rules.remove(id);
    this.apiRules.splice(index, 1);
    this.changed();
    return true;
  }

  onChange(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private rebuild(): void {
    this.rules = [...this.configRules, ...this.apiRules];
    this.decisions = new AccessDecisions(this.rules);
  }

  private changed(): void {
    this.rebuild();
    for (const listener of this.listeners) listener();
  }
}

function configViews(rules: readonly AccessRule[]): RuleView[] {
  return rules.map((rule, index) => ({ ...rule, id: `config:${index}`, origin: 'config' }));
}

function view(rule: RuleRecord): RuleView {
  return {
    id: rule.id,
    origin: 'api',
    subject: rule.subject,
    service: rule.service,
    allow: rule.allow,
    ...(rule.reason === undefined ? {} : { reason: rule.reason }),
  };
}
