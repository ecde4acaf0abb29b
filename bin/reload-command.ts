import { readFileSync, unlinkSync, writeFileSync } from 'node:fs';

export const RELOAD_USAGE = '       roamgate reload --pid PID | --pid-file FILE';

export const RELOAD_HELP = `  reload --pid PID | --pid-file FILE
                        ask a running gateway (serve) to read its config file again:
                        sends it SIGHUP, as systemctl reload does. What changed, or why
                        nothing did, is in the gateway's log. Exit 2 when no such process
  serve --pid-file FILE writes the gateway's process id there (removed at exit)`;

/** Writes this process's id to `file` for `roamgate reload --pid-file`; returns what removes it at exit. */
export function writePidFile(file: string): () => void {
  writeFileSync(file, `${process.pid}\n`);
  return () => {
    try {
      unlinkSync(file);
    } catch {
      // Gone already: nothing to do.
    }
  };
}

/** `roamgate reload`: sends SIGHUP to the gateway named by --pid or --pid-file; resolves to the exit status. */
export async function reloadCommand(args: string[], say: (line: string) => void): Promise<number> {
  const value = (flag: string) => {
    const at = args.indexOf(flag);
    return at === -1 ? undefined : args[at + 1];
  };
  const pidFile = value('--pid-file');
  let text = value('--pid');
  if (text === undefined && pidFile === undefined)
    return refuse(say, `reload needs --pid PID or --pid-file FILE\nusage:${RELOAD_USAGE.slice(6)}`);
  if (text === undefined) {
    try {
      text = readFileSync(pidFile!, 'utf8').trim();
    } catch (error) {
      return refuse(
        say,
        `cannot read ${pidFile} (${(error as NodeJS.ErrnoException).code ?? (error as Error).message}): is the gateway running?`,
      );
    }
  }
  const pid = Number(text);
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(pid) || pid < 2)
    return refuse(say, `${pidFile ?? '--pid'}: "${text}" is not a process id`);
  try {
    process.kill(pid, 'SIGHUP');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ESRCH') return refuse(say, `no process ${pid}${pidFile ? ` (from ${pidFile})` : ''}: is the gateway running?`);
    return refuse(say, `cannot signal process ${pid} (${code ?? (error as Error).message})`);
  }
  say(`sent SIGHUP to ${pid}: the gateway's log says what changed`);
  return 0;
}

function refuse(say: (line: string) => void, message: string): number {
  say(message);
  return 2;
}
