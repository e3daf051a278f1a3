/** Reading a user's file: the bytes, or a UserError naming the path and the reason. */
import { readFileSync } from 'node:fs';
import { fileError } from './errors.js';

/** The bytes of `path`; a UserError with the path and 'no such file' / 'is a directory' / the cause. */
export function readUserFile(path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw fileError(
      path,
      code === 'ENOENT'
        ? 'no such file'
        : code === 'EISDIR'
          ? 'is a directory'
          : `cannot read (${(e as Error).message})`,
    );
  }
}
