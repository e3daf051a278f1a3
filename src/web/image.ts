/**
 * Images on the `vnet bundle` page: a dropped PNG/JPEG becomes a raw network input (resized to
 * the spec's H×W, grey or RGB as its channel count says, scaled to its domain), and a raw input
 * becomes pixels to show. `pixelsToInput` and `inputToPixels` are pure (tested in Node); the
 * decoding uses the browser's canvas.
 */

/** Internal input shape [H, W, C] of an image network (C = 1 grey, C = 3 RGB). */
export type ImageShape = readonly [number, number, number];

/**
 * RGBA bytes (H·W·4, row-major) → raw input [H, W, C] in `domain`: grey = (299 R + 587 G + 114 B)
 * / 1000 (exact for grey pixels), each value v/255 mapped linearly onto the domain; `invert` uses
 * 255 − v (dark objects on a light background, as photos are, against Fashion-MNIST's light on dark).
 */
export function pixelsToInput(
  rgba: ArrayLike<number>,
  shape: ImageShape,
  domain: readonly [number, number],
  invert = false,
): Float32Array {
  const [H, W, C] = shape;
  if (rgba.length !== H * W * 4) throw new Error(`pixelsToInput: ${rgba.length} bytes for ${H}×${W} RGBA`);
  if (C !== 1 && C !== 3) throw new Error(`pixelsToInput: ${C} channels (images have 1 or 3)`);
  const [lo, hi] = domain;
  const out = new Float32Array(H * W * C);
  const scale = (v: number): number => lo + ((invert ? 255 - v : v) / 255) * (hi - lo);
  for (let p = 0; p < H * W; p++) {
    const r = rgba[4 * p]!;
    const g = rgba[4 * p + 1]!;
    const b = rgba[4 * p + 2]!;
    if (C === 1) out[p] = scale((299 * r + 587 * g + 114 * b) / 1000);
    else {
      out[3 * p] = scale(r);
      out[3 * p + 1] = scale(g);
      out[3 * p + 2] = scale(b);
    }
  }
  return out;
}

/** Raw input [H, W, C] in `domain` → RGBA bytes for display (grey for C = 1). */
export function inputToPixels(
  x: ArrayLike<number>,
  shape: ImageShape,
  domain: readonly [number, number],
): Uint8ClampedArray<ArrayBuffer> {
  const [H, W, C] = shape;
  const [lo, hi] = domain;
  const out = new Uint8ClampedArray(H * W * 4);
  const px = (v: number): number => Math.round(((v - lo) / (hi - lo || 1)) * 255);
  for (let p = 0; p < H * W; p++) {
    const v = [0, 1, 2].map((c) => px(x[p * C + (C === 3 ? c : 0)]!));
    out.set([v[0]!, v[1]!, v[2]!, 255], 4 * p);
  }
  return out;
}

/** The image shape of an internal input shape, or undefined when it is not an image ([N]). */
export function imageShape(shape: readonly number[]): ImageShape | undefined {
  if (shape.length !== 3) return undefined;
  const [h, w, c] = shape as [number, number, number];
  return c === 1 || c === 3 ? [h, w, c] : undefined;
}

/**
 * Decodes an image file and draws it onto H×W (stretched; transparent parts become the
 * background: black, or white when inverting), returning its RGBA bytes.
 */
export async function decodeImage(
  file: Blob,
  shape: ImageShape,
  invert: boolean,
): Promise<Uint8ClampedArray> {
  let bmp: ImageBitmap;
  try {
    bmp = await createImageBitmap(file);
  } catch {
    throw new Error(
      `${(file as File).name ?? 'the file'} is not an image this browser can decode (PNG or JPEG)`,
    );
  }
  const [H, W] = shape;
  const canvas = document.createElement('canvas');
  canvas.width = W;
  canvas.height = H;
  const g = canvas.getContext('2d', { willReadFrequently: true })!;
  g.fillStyle = invert ? '#fff' : '#000';
  g.fillRect(0, 0, W, H);
  g.imageSmoothingEnabled = true;
  g.imageSmoothingQuality = 'high';
  g.drawImage(bmp, 0, 0, W, H);
  bmp.close();
  return g.getImageData(0, 0, W, H).data;
}
