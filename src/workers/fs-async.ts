// The few asynchronous file calls the agent's actors make, as promises over node:fs's callback API.
//
// node:fs/promises would do, but loading it brings internal/fs/promises and, through FileHandle's
// readLines, Node's readline interface: +0.6 / +0.6 / +1.3 MB RSS on Node 20 / 22 / 24 in a process
// that already has node:net (measured: an idle `node --jitless` with net, os and async_hooks loaded,
// with and without it, three runs each, identical to 0.1 MB). The agent needs nine calls of it.
//
// FdHandle has the part of fs/promises' FileHandle the tailer and the deploy watcher use (read, stat,
// close). Unlike a FileHandle it is not closed when garbage-collected: its users close it in finally
// blocks and when a file is let go, as they did.

import fs, { type Stats, type StatsFs } from 'node:fs';
import { promisify } from 'node:util';

// node:util is loaded already (the agent's argument parsing); promisify itself loads nothing.
const read = promisify(fs.read);
const fstat = promisify(fs.fstat) as (fd: number) => Promise<Stats>;
const close = promisify(fs.close);
const openFd = promisify(fs.open) as (path: string, flags: string) => Promise<number>;

export class FdHandle {
  private closed = false;
  constructor(readonly fd: number) {}

  read(buffer: Buffer, offset: number, length: number, position: number): Promise<{ bytesRead: number; buffer: Buffer }> {
    return read(this.fd, buffer, offset, length, position);
  }

  stat(): Promise<Stats> {
    return fstat(this.fd);
  }

  /** Closes the descriptor once; later calls resolve at once (a FileHandle's close is idempotent too). */
  close(): Promise<void> {
    if (this.closed) return Promise.resolve();
    this.closed = true;
    return close(this.fd);
  }
}

export const open = (path: string, flags: 'r'): Promise<FdHandle> => openFd(path, flags).then((fd) => new FdHandle(fd));
export const stat = promisify(fs.stat) as (path: string) => Promise<Stats>;
export const lstat = promisify(fs.lstat) as (path: string) => Promise<Stats>;
export const readdir = promisify(fs.readdir) as (path: string) => Promise<string[]>;
export const readlink = promisify(fs.readlink) as (path: string) => Promise<string>;
export const statfs = promisify(fs.statfs) as (path: string) => Promise<StatsFs>;
