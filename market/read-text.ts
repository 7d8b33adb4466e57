import { readFile } from 'node:fs/promises';
import { BarsFileError } from './errors.ts';

/** Reads a whole bars file as UTF-8 (BOM removed), turning I/O failures into BarsFileError. */
export async function readBarsText(path: string): Promise<string> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException | null)?.code;
    if (code === 'ENOENT') throw new BarsFileError(path, 'not_found', 'file not found', { cause: err });
    if (code === 'EISDIR') throw new BarsFileError(path, 'unreadable', 'is a directory, not a bars file', { cause: err });
    throw new BarsFileError(path, 'unreadable', `cannot read the file (${code ?? String(err)})`, { cause: err });
  }
  return text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
}
