/**
 * Client side of the monitor's attach socket (see plugins/isolation/monitor/monitor.c).
 *
 * Vocabulary
 * - *frame*: `[type:u8][0][0][0][length:u32be] payload`, Docker's stdcopy header.
 *   client → monitor: 0 stdin, 4 resize (rows:u16be cols:u16be), 5 close stdin.
 *   monitor → client: 1 stdout, 2 stderr, 3 exit (JSON `{"exitCode":N,"oomKilled":b}`).
 * - *attach name*: the abstract unix socket name, `berth-<hash of the root>-<container id>`.
 *   Abstract sockets vanish with the monitor, so a stale name never lingers on disk.
 *
 * Lifecycle
 *   const a = await AttachClient.connect(name);
 *   a.onOutput = (stream, data) => …; a.onExit = ({exitCode}) => …; a.begin();
 *   a.sendStdin(buf); a.resize(rows, cols); a.closeStdin(); a.close();
 */
import * as net from 'node:net';
import { createHash } from 'node:crypto';

export const FRAME_STDIN = 0;
export const FRAME_STDOUT = 1;
export const FRAME_STDERR = 2;
export const FRAME_EXIT = 3;
export const FRAME_RESIZE = 4;
export const FRAME_CLOSE_STDIN = 5;

export function attachName(root: string, id: string): string {
  return `berth-${createHash('sha256').update(root).digest('hex').slice(0, 8)}-${id}`;
}

export function frame(type: number, payload: Uint8Array): Buffer {
  const h = Buffer.alloc(8 + payload.length);
  h[0] = type;
  h.writeUInt32BE(payload.length, 4);
  h.set(payload, 8);
  return h;
}

export interface ExitInfo { exitCode: number; oomKilled: boolean }

export class AttachClient {
  onOutput: (stream: 1 | 2, data: Buffer) => void = () => undefined;
  onExit: (e: ExitInfo) => void = () => undefined;
  /** Called when the socket closes (after onExit when the container exited). */
  onClose: () => void = () => undefined;
  private buf: Buffer = Buffer.alloc(0);
  /** Events that arrived before `begin()`: output can come while the caller still sets up. */
  private held: Array<() => void> | undefined = [];

  private constructor(private readonly sock: net.Socket) {
    sock.on('data', (d: Buffer) => this.feed(d));
    sock.on('close', () => this.emit(() => this.onClose()));
    sock.on('error', () => undefined);
  }

  private emit(fn: () => void): void {
    if (this.held) this.held.push(fn);
    else fn();
  }

  /** Delivers held events to the handlers now set, then delivers events as they come. */
  begin(): void {
    const h = this.held ?? [];
    this.held = undefined;
    for (const fn of h) fn();
  }

  static connect(name: string, timeoutMs = 2000): Promise<AttachClient> {
    return new Promise((resolve, reject) => {
      const sock = net.createConnection({ path: `\0${name}` });
      const t = setTimeout(() => { sock.destroy(); reject(new Error(`attach socket @${name}: timeout`)); }, timeoutMs);
      sock.once('connect', () => { clearTimeout(t); resolve(new AttachClient(sock)); });
      sock.once('error', (e) => { clearTimeout(t); reject(e); });
    });
  }

  private feed(d: Buffer): void {
    this.buf = this.buf.length ? Buffer.concat([this.buf, d]) : d;
    while (this.buf.length >= 8) {
      const n = this.buf.readUInt32BE(4);
      if (this.buf.length < 8 + n) break;
      const type = this.buf[0]!;
      const payload = this.buf.subarray(8, 8 + n);
      this.buf = this.buf.subarray(8 + n);
      if (type === FRAME_STDOUT || type === FRAME_STDERR) {
        const copy = this.held ? Buffer.from(payload) : payload;
        this.emit(() => this.onOutput(type, copy));
      } else if (type === FRAME_EXIT) {
        let info: ExitInfo;
        try {
          info = JSON.parse(payload.toString()) as ExitInfo;
        } catch {
          info = { exitCode: 255, oomKilled: false };
        }
        this.emit(() => this.onExit(info));
      }
    }
  }

  sendStdin(data: Uint8Array): void {
    for (let off = 0; off < data.length; off += 65536) this.sock.write(frame(FRAME_STDIN, data.subarray(off, off + 65536)));
  }

  resize(rows: number, cols: number): void {
    const p = Buffer.alloc(4);
    p.writeUInt16BE(rows & 0xffff, 0);
    p.writeUInt16BE(cols & 0xffff, 2);
    this.sock.write(frame(FRAME_RESIZE, p));
  }

  closeStdin(): void {
    this.sock.write(frame(FRAME_CLOSE_STDIN, Buffer.alloc(0)));
  }

  close(): void {
    this.sock.end();
    this.sock.destroy();
  }
}

/**
 * Scans keystrokes for the detach sequence (default ctrl-p ctrl-q). Returns the bytes to forward
 * and whether the sequence completed. A partial match is held back until the next key decides.
 */
export class DetachScanner {
  private held: number[] = [];
  constructor(private readonly keys: number[] = [0x10, 0x11]) {}

  static parse(spec: string | undefined): DetachScanner {
    if (!spec) return new DetachScanner();
    const keys = spec.split(',').map((k) => {
      const t = k.trim();
      const m = /^ctrl-(.)$/i.exec(t);
      if (m) {
        const ch = m[1]!.toLowerCase();
        if (ch >= 'a' && ch <= 'z') return ch.charCodeAt(0) - 96;
        return ({ '@': 0, '[': 27, '\\': 28, ']': 29, '^': 30, '_': 31 } as Record<string, number>)[ch] ?? -1;
      }
      if (t.length === 1) return t.charCodeAt(0);
      return -1;
    });
    if (keys.some((k) => k < 0) || !keys.length) throw new Error(`invalid detach keys: ${spec}`);
    return new DetachScanner(keys);
  }

  push(data: Buffer): { forward: Buffer; detach: boolean } {
    const out: number[] = [];
    for (const b of data) {
      if (b === this.keys[this.held.length]) {
        this.held.push(b);
        if (this.held.length === this.keys.length) return { forward: Buffer.from(out), detach: true };
      } else {
        out.push(...this.held);
        this.held = [];
        if (b === this.keys[0]) this.held.push(b);
        else out.push(b);
      }
    }
    return { forward: Buffer.from(out), detach: false };
  }
}
