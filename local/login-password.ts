import { RoamgateError } from '../errors';
import type { PasswordProvider } from './options';

/** The password a local proxy logs in with: the one given, or asked for (a prompt) and kept once a login took it. */
export class LoginPassword {
  /** The password the last successful login took. */
  private known: string | undefined;

  constructor(private readonly given: PasswordProvider | undefined) {}

  /** The password to log in as `user` with; throws ROAMGATE_LOGIN_REQUIRED when there is none to be had. */
  async get(user: string): Promise<string> {
    if (this.known !== undefined) return this.known;
    const given = this.given;
    if (typeof given === 'string') return given;
    if (typeof given === 'function') return given();
    throw new RoamgateError(
      'ROAMGATE_LOGIN_REQUIRED',
      `no password to log in as ${user}: use --password-file FILE or set ROAMGATE_PASSWORD`,
    );
  }

  /** A login took it: use it again without asking. */
  worked(password: string): void {
    this.known = password;
  }

  /** The gateway refused it: ask again next time. */
  refused(): void {
    this.known = undefined;
  }
}
