// Real journal files for the journald source's tests: entries in systemd's journal export format
// (https://systemd.io/JOURNAL_EXPORT_FORMATS/), written into DIR/NAME.journal by systemd-journal-remote,
// and read back by the agent through `journalctl --directory DIR`.

import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';

export const JOURNAL_REMOTE = ['/lib/systemd/systemd-journal-remote', '/usr/lib/systemd/systemd-journal-remote'].find((p) => existsSync(p)) ?? null;

/** One journal entry: field name → text, or bytes (written in the export format's binary form). */
export type JournalFields = Record<string, string | number | Buffer>;

const BOOT_ID = '0123456789abcdef0123456789abcdef';
let monotonic = 1;

/** Export format of `entries`; __REALTIME_TIMESTAMP (µs, default now), __MONOTONIC_TIMESTAMP and _BOOT_ID are filled in when missing. */
export function exportFormat(entries: JournalFields[]): Buffer {
  const parts: Buffer[] = [];
  for (const fields of entries) {
    const all: JournalFields = {
      __REALTIME_TIMESTAMP: Date.now() * 1000,
      __MONOTONIC_TIMESTAMP: monotonic++,
      _BOOT_ID: BOOT_ID,
      ...fields,
    };
    for (const [name, value] of Object.entries(all)) {
      const bytes = Buffer.isBuffer(value) ? value : Buffer.from(String(value), 'utf8');
      if (Buffer.isBuffer(value) || bytes.includes(0x0a)) {
        // Binary form: the name, LF, a little-endian 64-bit length, the bytes, LF.
        const len = Buffer.alloc(8);
        len.writeBigUInt64LE(BigInt(bytes.length));
        parts.push(Buffer.from(`${name}\n`), len, bytes, Buffer.from('\n'));
      } else {
        parts.push(Buffer.from(`${name}=`), bytes, Buffer.from('\n'));
      }
    }
    parts.push(Buffer.from('\n'));
  }
  return Buffer.concat(parts);
}

/** Writes `entries` into DIR/NAME.journal with systemd-journal-remote (appends when the file exists). */
export function writeJournal(dir: string, entries: JournalFields[], name = 'remote'): Promise<void> {
  if (!JOURNAL_REMOTE) return Promise.reject(new Error('systemd-journal-remote is not installed (Debian package systemd-journal-remote)'));
  return new Promise((resolve, reject) => {
    const child = spawn(JOURNAL_REMOTE, ['-o', join(dir, `${name}.journal`), '-'], { stdio: ['pipe', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (s: string) => { stderr += s; });
    child.once('error', reject);
    child.once('close', (code) => (code === 0 ? resolve() : reject(new Error(`systemd-journal-remote exited with ${code}: ${stderr}`))));
    child.stdin!.end(exportFormat(entries));
  });
}

/** `count` numbered entries of `unit`: MESSAGE `journal-line-NNNNNN`, one µs apart from `startUs`. */
export function numberedEntries(unit: string, from: number, count: number, startUs = Date.now() * 1000): JournalFields[] {
  const out: JournalFields[] = [];
  for (let n = from; n < from + count; n++) {
    out.push({ __REALTIME_TIMESTAMP: startUs + n, _SYSTEMD_UNIT: unit, PRIORITY: 6, _PID: 4242, SYSLOG_IDENTIFIER: 'my-app',
      MESSAGE: journalLine(n) });
  }
  return out;
}

export function journalLine(n: number): string {
  return `journal-line-${String(n).padStart(6, '0')}`;
}
