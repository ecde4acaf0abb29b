import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { RoamgateError } from '../errors';
import { generateGatewayKey } from '../protocols/discovery-message';
import type { Logger } from './options';

/**
 * The gateway's Ed25519 discovery key, from `keyFile`; made there (mode 0600,
 * never overwriting) on first start. A key readable by others is used but
 * warned about.
 */
export function loadGatewayKey(keyFile: string, logger: Logger): string {
  try {
    writeFileSync(keyFile, generateGatewayKey().privateKeyPem, { mode: 0o600, flag: 'wx' });
    logger.info({ event: 'discovery-key', keyFile }, 'made a new gateway discovery key');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') {
      throw new RoamgateError(
        'ROAMGATE_INVALID_OPTIONS',
        `discovery.keyFile: cannot create ${keyFile} (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`,
        { cause: error },
      );
    }
  }
  try {
    if ((statSync(keyFile).mode & 0o077) !== 0)
      logger.warn({ event: 'discovery-key', keyFile }, 'the gateway discovery key is readable by other users (chmod 600 it)');
    return readFileSync(keyFile, 'utf8');
  } catch (error) {
    throw new RoamgateError(
      'ROAMGATE_INVALID_OPTIONS',
      `discovery.keyFile: cannot read ${keyFile} (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`,
      { cause: error },
    );
  }
}
