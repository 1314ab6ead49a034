/**
 * The real side-effect seam: every host-changing command is a child process. Nothing here
 * enters a namespace or mounts inside the Node process.
 */
import { spawn } from 'node:child_process';
import { defineError } from '../../../core/errors';
import type { ExecOptions, ExecResult, HostOps } from '../../../core/contracts/host';

export const ERR_HOST_EXEC = defineError('ERR_HOST_EXEC_FAILED', 'internal', '%s exited with %s: %s');
export const ERR_HOST_NO_TOOL = defineError('ERR_HOST_TOOL_MISSING', 'failedPrecondition', '%s is not installed (%s)');

export class LinuxHostOps implements HostOps {
  exec(file: string, args: string[], opts: ExecOptions = {}): Promise<ExecResult> {
    return new Promise((resolve, reject) => {
      const child = spawn(file, args, {
        stdio: ['pipe', 'pipe', 'pipe'],
        env: opts.env ? { ...process.env, ...opts.env } : process.env,
        ...(opts.cwd ? { cwd: opts.cwd } : {}),
        ...(opts.timeoutMs ? { timeout: opts.timeoutMs } : {}),
      });
      const out: Buffer[] = [];
      const err: Buffer[] = [];
      child.stdout.on('data', (d: Buffer) => out.push(d));
      child.stderr.on('data', (d: Buffer) => err.push(d));
      child.on('error', (e: NodeJS.ErrnoException) => {
        if (e.code === 'ENOENT') reject(ERR_HOST_NO_TOOL.with({ cause: e }, file, e.message));
        else reject(ERR_HOST_EXEC.with({ cause: e }, file, e.code ?? 'error', e.message));
      });
      child.on('close', (code, signal) => {
        const res: ExecResult = { code: code ?? 128, stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString(), ...(signal ? { signal } : {}) };
        if (res.code !== 0 && !opts.allowFail) {
          reject(ERR_HOST_EXEC.with({ details: { args } }, [file, ...args].join(' '), signal ?? res.code, res.stderr.trim() || res.stdout.trim()));
        } else resolve(res);
      });
      child.stdin.on('error', () => undefined);
      if (opts.input !== undefined) child.stdin.end(opts.input);
      else child.stdin.end();
    });
  }
}
