/**
 * A recording fake of the host seam for unit tests: every `exec` is recorded and answered by
 * a rule (or succeeds with empty output). Integration tests use the real host plugin.
 *
 *   const host = new RecordingHost().answer('ip', (args) => ({ code: 0, stdout: '…', stderr: '' }));
 *   await driver.join(…);  t.same(host.calls('ip').map((c) => c.args), [['link', 'add', …]]);
 */
import type { ExecOptions, ExecResult, HostOps } from '../contracts/host';

export interface RecordedCall { file: string; args: string[]; opts: ExecOptions }

export class RecordingHost implements HostOps {
  private readonly log: RecordedCall[] = [];
  private readonly rules = new Map<string, (args: string[]) => ExecResult>();

  answer(file: string, rule: (args: string[]) => ExecResult): this {
    this.rules.set(file, rule);
    return this;
  }

  async exec(file: string, args: string[], opts: ExecOptions = {}): Promise<ExecResult> {
    this.log.push({ file, args: [...args], opts });
    const res = this.rules.get(file)?.(args) ?? { code: 0, stdout: '', stderr: '' };
    if (res.code !== 0 && !opts.allowFail) throw new Error(`${file} ${args.join(' ')} exited with ${res.code}: ${res.stderr}`);
    return res;
  }

  calls(file?: string): RecordedCall[] {
    return file === undefined ? [...this.log] : this.log.filter((c) => c.file === file);
  }
}
