/**
 * A small tar reader, enough for the CIFAR-10 archive and archives made by GNU/BSD tar:
 * ustar headers (name + prefix), GNU long names ('L') and pax path records ('x').
 * Links, devices and the like are skipped.
 */
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, isAbsolute, join, normalize, sep } from "node:path";
import { gunzipSync } from "node:zlib";

export interface TarEntry {
  name: string;
  type: "file" | "directory" | "other";
  data: Uint8Array;
}

const BLOCK = 512;

function readString(buf: Uint8Array, start: number, length: number): string {
  let end = start;
  while (end < start + length && buf[end] !== 0) end++;
  return Buffer.from(buf.buffer, buf.byteOffset + start, end - start).toString("utf8");
}

/** Numeric header field: octal text, or GNU base-256 when the top bit of the first byte is set. */
function readNumber(buf: Uint8Array, start: number, length: number): number {
  if (buf[start]! & 0x80) {
    let value = buf[start]! & 0x7f;
    for (let i = start + 1; i < start + length; i++) value = value * 256 + buf[i]!;
    return value;
  }
  const text = readString(buf, start, length).trim();
  return text === "" ? 0 : parseInt(text, 8);
}

function checksumOk(header: Uint8Array): boolean {
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : header[i]!;
  return sum === readNumber(header, 148, 8);
}

/** Parse an uncompressed tar archive. Entry data are views into `archive`. */
export function readTar(archive: Uint8Array): TarEntry[] {
  const entries: TarEntry[] = [];
  let offset = 0;
  let longName: string | null = null;
  while (offset + BLOCK <= archive.length) {
    const header = archive.subarray(offset, offset + BLOCK);
    if (header.every((b) => b === 0)) break; // end-of-archive marker
    if (!checksumOk(header)) throw new Error(`tar: bad header checksum at byte ${offset}`);
    const size = readNumber(header, 124, 12);
    const typeflag = String.fromCharCode(header[156]!);
    const dataStart = offset + BLOCK;
    if (dataStart + size > archive.length) throw new Error(`tar: archive truncated inside entry at byte ${offset}`);
    const data = archive.subarray(dataStart, dataStart + size);
    offset = dataStart + Math.ceil(size / BLOCK) * BLOCK;

    if (typeflag === "L") {
      longName = readString(data, 0, data.length);
      continue;
    }
    if (typeflag === "x") {
      const path = /(?:^|\n)\d+ path=([^\n]*)\n/.exec(Buffer.from(data).toString("utf8"));
      if (path) longName = path[1]!;
      continue;
    }
    if (typeflag === "g") continue;

    let name = readString(header, 0, 100);
    const magic = readString(header, 257, 6);
    if (magic.startsWith("ustar")) {
      const prefix = readString(header, 345, 155);
      if (prefix) name = `${prefix}/${name}`;
    }
    if (longName !== null) {
      name = longName;
      longName = null;
    }
    const type = typeflag === "0" || typeflag === "\0" || typeflag === "7" ? "file" : typeflag === "5" ? "directory" : "other";
    entries.push({ name, type, data });
  }
  return entries;
}

/** Resolve an archive member path under destDir, refusing absolute paths and "..". */
function safeJoin(destDir: string, name: string): string {
  const clean = normalize(name);
  if (isAbsolute(clean) || clean === ".." || clean.startsWith(`..${sep}`)) {
    throw new Error(`tar: refusing to extract unsafe path "${name}"`);
  }
  return join(destDir, clean);
}

/**
 * Extract the regular files of a .tar.gz (or plain .tar) file into destDir.
 * Returns the written paths. The archive is read into memory (the CIFAR-10 one is ~180 MB).
 */
export function extractTarGz(archivePath: string, destDir: string): string[] {
  let bytes: Uint8Array = readFileSync(archivePath);
  if (bytes[0] === 0x1f && bytes[1] === 0x8b) {
    try {
      bytes = gunzipSync(bytes);
    } catch (e) {
      throw new Error(`${archivePath}: cannot gunzip: ${(e as Error).message}`);
    }
  }
  let entries: TarEntry[];
  try {
    entries = readTar(bytes);
  } catch (e) {
    throw new Error(`${archivePath}: ${(e as Error).message}`);
  }
  const written: string[] = [];
  for (const entry of entries) {
    const target = safeJoin(destDir, entry.name);
    if (entry.type === "directory") {
      mkdirSync(target, { recursive: true });
    } else if (entry.type === "file") {
      mkdirSync(dirname(target), { recursive: true });
      writeFileSync(target, entry.data);
      written.push(target);
    }
  }
  return written;
}
