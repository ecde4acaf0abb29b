/**
 * The gateway under soak runs the TypeScript sources, compiled here by @swc/core (as jest's transform does,
 * jest.config.js) into a directory of the test run, so that its process needs no build and carries no compiler:
 * its RSS is the gateway's own. Packages resolve from the project's node_modules through NODE_PATH.
 */
import { transformSync } from '@swc/core';
import { mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';

/** The project's root: the sources, and the node_modules the compiled files resolve packages from. */
export const PROJECT_ROOT = resolve(__dirname, '../..');

function typescriptFiles(path: string): string[] {
  if (!statSync(path).isDirectory()) return path.endsWith('.ts') && !path.endsWith('.d.ts') ? [path] : [];
  return readdirSync(path).flatMap((name) => (name === 'node_modules' || name === 'dist' ? [] : typescriptFiles(join(path, name))));
}

/**
 * Compiles every source tsconfig.json includes, and this directory, to CommonJS under a fresh directory;
 * returns the path of the compiled `entry` (a path relative to the project root, `test/soak/soak-gateway.ts`).
 */
export function compileForChild(entry: string): string {
  const out = join(tmpdir(), `roamgate-soak-build-${process.pid}`);
  const { include } = JSON.parse(readFileSync(join(PROJECT_ROOT, 'tsconfig.json'), 'utf8')) as { include: string[] };
  const sources = [...include, relative(PROJECT_ROOT, __dirname), 'test/helpers'].flatMap((path) =>
    typescriptFiles(join(PROJECT_ROOT, path)),
  );
  for (const source of sources) {
    const { code } = transformSync(readFileSync(source, 'utf8'), {
      filename: source,
      jsc: { target: 'es2022', parser: { syntax: 'typescript' } },
      module: { type: 'commonjs' },
    });
    const target = join(out, relative(PROJECT_ROOT, source)).replace(/\.ts$/, '.js');
    mkdirSync(dirname(target), { recursive: true });
    writeFileSync(target, code);
  }
  return join(out, entry).replace(/\.ts$/, '.js');
}
