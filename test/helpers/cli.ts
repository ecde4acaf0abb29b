import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { untilValue } from './until';

/** The built CLI, run as users run it (npm test builds first). */
export const BIN = join(__dirname, '..', '..', 'dist', 'bin', 'roamgate.js');

/** Runs the roamgate CLI; collects stdout and stderr together (output), and each apart. */
export function runCli(
  args: string[],
  env: NodeJS.ProcessEnv = process.env,
): { child: ChildProcess; output: () => string; stdout: () => string; stderr: () => string; exited: Promise<number | null> } {
  const child = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env });
  let output = '';
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (chunk: Buffer) => {
    output += chunk.toString();
    stdout += chunk.toString();
  });
  child.stderr!.on('data', (chunk: Buffer) => {
    output += chunk.toString();
    stderr += chunk.toString();
  });
  // 'close', not 'exit': it comes once the output is read to its end, so the last lines a process wrote are in output().
  const exited = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
  return { child, output: () => output, stdout: () => stdout, stderr: () => stderr, exited };
}

/** Waits until the output matches; returns the match. */
export async function waitForOutput(get: () => string, pattern: RegExp, timeoutMs = 10_000): Promise<RegExpExecArray> {
  const found = (match: RegExpExecArray | null) => match !== null;
  const match = await untilValue(
    () => pattern.exec(get()),
    found,
    () => `${pattern} in output: ${get()}`,
    timeoutMs,
    25,
  );
  return match!;
}
