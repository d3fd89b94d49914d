/**
 * A folder of images, one subfolder per class (the ImageFolder convention),
 * decoded with sharp (libvips): PNG, JPEG, WebP, GIF, TIFF. Classes are the
 * subfolders in sorted order; every image must have the size of the first.
 * Imported as @gap/ml-core/image-folder, so that services do not load libvips.
 */
import { readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import sharp from "sharp";

export interface ImageFolderData {
  images: Uint8Array;
  labels: Int32Array;
  height: number;
  width: number;
  channels: number;
  classNames: string[];
}

const IMAGE = /\.(png|jpe?g|webp|gif|tiff?)$/i;

/** Decodes every image; an unreadable image, a size that differs or an empty class names its file or folder. */
export async function readImageFolder(root: string, options: { channels: 1 | 3 } = { channels: 3 }): Promise<ImageFolderData> {
  const classNames = readdirSync(root).filter((name) => statSync(join(root, name)).isDirectory()).sort();
  if (classNames.length < 2) throw new Error(`${root}: needs one subfolder per class, at least two (found ${classNames.length})`);
  const pixels: Buffer[] = [];
  const labels: number[] = [];
  let size: { height: number; width: number; first: string } | undefined;
  for (const [label, name] of classNames.entries()) {
    const dir = join(root, name);
    const files = readdirSync(dir).filter((f) => IMAGE.test(f)).sort();
    if (files.length === 0) throw new Error(`${dir}: class "${name}" has no images (png, jpg, jpeg, webp, gif, tif)`);
    for (const file of files) {
      const path = join(dir, file);
      let decoded: { data: Buffer; info: { width: number; height: number; channels: number } };
      try {
        const image = sharp(path).removeAlpha();
        decoded = await (options.channels === 1 ? image.grayscale() : image.toColourspace("srgb")).raw().toBuffer({ resolveWithObject: true });
      } catch (error) {
        throw new Error(`${path}: cannot decode (${(error as Error).message})`);
      }
      const { width, height, channels } = decoded.info;
      size ??= { height, width, first: path };
      if (width !== size.width || height !== size.height) throw new Error(`${path}: ${width}x${height}, but ${size.first} is ${size.width}x${size.height}; all images must have one size`);
      if (channels !== options.channels) throw new Error(`${path}: decoded to ${channels} channels, expected ${options.channels}`);
      pixels.push(decoded.data);
      labels.push(label);
    }
  }
  return { images: new Uint8Array(Buffer.concat(pixels)), labels: Int32Array.from(labels), height: size!.height, width: size!.width, channels: options.channels, classNames };
}
