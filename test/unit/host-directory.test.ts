import { Strategy as LocalStrategy } from 'passport-local';
import { HostDirectory } from '../../plugin/host-directory';

describe('HostDirectory', () => {
  test('a strategy that never calls back fails the check as the directory failing, after its time limit', async () => {
    const silent = new LocalStrategy(() => undefined);
    await expect(new HostDirectory(silent, 50).verify('alice', 'pw')).rejects.toMatchObject({
      code: 'ROAMGATE_SOURCE_FAILED',
      message: expect.stringMatching(/no answer within 50 ms/),
    });
  });

  test('a get that never answers fails the same way; an answer in time is the user', async () => {
    const directory = new HostDirectory({ verify: () => false, get: (id) => (id === 'bob' ? new Promise(() => undefined) : { id }) }, 50);
    await expect(directory.get('bob')).rejects.toMatchObject({ code: 'ROAMGATE_SOURCE_FAILED' });
    await expect(directory.get('carol')).resolves.toEqual({ id: 'carol', attributes: {} });
  });

  test('a user without an id is the host failing, not a login', async () => {
    await expect(new HostDirectory({ verify: () => ({ attributes: {} }) }).verify('x', 'y')).rejects.toMatchObject({
      code: 'ROAMGATE_SOURCE_FAILED',
    });
  });
});
