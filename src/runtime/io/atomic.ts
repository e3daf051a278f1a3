/**
 * Crash-safe file writes. Every file vnet produces (checkpoints, sidecars, metrics, reports,
 * generated modules) goes through `writeFileAtomic`: the data is written to a temporary file in
 * the target's own directory, flushed to disk (fsync), renamed over the target (atomic on POSIX
 * within one file system), and the directory is fsynced so that the rename itself survives a
 * crash. A reader, or a process killed with -9 at any moment, sees either the old file or the new
 * one, never a half-written one. Stale temporary files are named `.<base>.<pid>.<rand>.tmp`.
 */
import { closeSync, fsyncSync, mkdirSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { basename, dirname, join } from 'node:path';

/** Bytes or text (UTF-8) to write. */
export type FileData = string | Uint8Array;

/** fsync a directory so that a rename inside it is durable; a no-op where directories cannot be opened (Windows). */
function fsyncDir(dir: string): void {
  let fd: number | undefined;
  try {
    fd = openSync(dir, 'r');
    fsyncSync(fd);
  } catch {
    // Some platforms and file systems refuse fsync on a directory; the rename is still atomic.
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/**
 * Writes `data` to `path` atomically (temp file in the same directory, fsync, rename, fsync of the
 * directory). Creates missing parent directories. On failure the temporary file is removed and the
 * previous content of `path`, if any, is untouched.
 */
export function writeFileAtomic(path: string, data: FileData): void {
  const dir = dirname(path);
  mkdirSync(dir, { recursive: true });
  const tmp = join(dir, `.${basename(path)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
  let fd: number | undefined;
  try {
    fd = openSync(tmp, 'wx', 0o644);
    let off = 0;
    while (off < bytes.length) off += writeSync(fd, bytes, off, bytes.length - off);
    fsyncSync(fd);
    closeSync(fd);
    fd = undefined;
    renameSync(tmp, path);
  } catch (e) {
    if (fd !== undefined) closeSync(fd);
    rmSync(tmp, { force: true });
    throw e;
  }
  fsyncDir(dir);
}

/** `writeFileAtomic` for a JSON value, pretty-printed with a trailing newline. */
export function writeJsonAtomic(path: string, value: unknown): void {
  writeFileAtomic(path, JSON.stringify(value, null, 2) + '\n');
}
