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

function call<T>(run: (done: (err: NodeJS.ErrnoException | null, value: T) => void) => void): Promise<T> {
  return new Promise<T>((resolve, reject) => run((err, value) => (err ? reject(err) : resolve(value))));
}

export class FdHandle {
  private closed = false;
  constructor(readonly fd: number) {}

  read(buffer: Buffer, offset: number, length: number, position: number): Promise<{ bytesRead: number; buffer: Buffer }> {
    return new Promise((resolve, reject) => fs.read(this.fd, buffer, offset, length, position,
      (err, bytesRead) => (err ? reject(err) : resolve({ bytesRead, buffer }))));
  }

  stat(): Promise<Stats> {
    return call<Stats>((done) => fs.fstat(this.fd, done));
  }

  /** Closes the descriptor once; later calls resolve at once (a FileHandle's close is idempotent too). */
  close(): Promise<void> {
    if (this.closed) return Promise.resolve();
    this.closed = true;
    return new Promise((resolve, reject) => fs.close(this.fd, (err) => (err ? reject(err) : resolve())));
  }
}

export function open(path: string, flags: 'r'): Promise<FdHandle> {
  return call<number>((done) => fs.open(path, flags, done)).then((fd) => new FdHandle(fd));
}

export function stat(path: string): Promise<Stats> {
  return call<Stats>((done) => fs.stat(path, done));
}

export function lstat(path: string): Promise<Stats> {
  return call<Stats>((done) => fs.lstat(path, done));
}

export function readdir(path: string): Promise<string[]> {
  return call<string[]>((done) => fs.readdir(path, done));
}

export function readlink(path: string): Promise<string> {
  return call<string>((done) => fs.readlink(path, done));
}

export function statfs(path: string): Promise<StatsFs> {
  return call<StatsFs>((done) => fs.statfs(path, done));
}
