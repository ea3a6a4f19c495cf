/* Turns a drawing into what the model was trained on: scikit-learn's digits
 * (UCI "optdigits"). Each of those images is a digit scaled into a 32x32
 * black-and-white bitmap, then counted in 4x4 blocks, so its 8x8 pixels run
 * from 0 (no ink) to 16 (all ink). The same is done here:
 *
 * 1. find the bounding box of the ink;
 * 2. centre it in a square whose longer side fills the bitmap but for a margin
 *    of one bitmap cell on each side (the digits touch their images' top and
 *    bottom rows, so the margin is small);
 * 3. scale that square to 32x32 by averaging the canvas pixels under each cell,
 *    a cell being inked when it is more than half dark;
 * 4. count the inked cells of each 4x4 block: 64 numbers, row by row. */

const BITMAP = 32;
const BLOCK = 4;
const MARGIN = 1 / BITMAP;
const INKED = 0.5;

function darknessOf(imageData) {
  const { width, height, data } = imageData;
  const darkness = new Float32Array(width * height);
  for (let i = 0; i < width * height; i += 1) {
    const alpha = data[4 * i + 3] / 255;
    const grey = (data[4 * i] + data[4 * i + 1] + data[4 * i + 2]) / (3 * 255);
    // A transparent pixel counts as the white paper under it.
    darkness[i] = alpha * (1 - grey);
  }
  return darkness;
}

function inkBox(darkness, width, height) {
  let top = height;
  let bottom = -1;
  let left = width;
  let right = -1;
  for (let y = 0; y < height; y += 1) {
    for (let x = 0; x < width; x += 1) {
      if (darkness[y * width + x] > INKED) {
        top = Math.min(top, y);
        bottom = Math.max(bottom, y);
        left = Math.min(left, x);
        right = Math.max(right, x);
      }
    }
  }
  return bottom < 0 ? null : { top, bottom: bottom + 1, left, right: right + 1 };
}

/* The drawing as 64 numbers from 0 to 16, or null when nothing is drawn. */
export function downsample(imageData) {
  const { width, height } = imageData;
  const darkness = darknessOf(imageData);
  const box = inkBox(darkness, width, height);
  if (box === null) {
    return null;
  }
  const side = Math.max(box.bottom - box.top, box.right - box.left);
  const square = side / (1 - 2 * MARGIN);
  const originY = (box.top + box.bottom) / 2 - square / 2;
  const originX = (box.left + box.right) / 2 - square / 2;
  const cell = square / BITMAP;

  // The canvas pixels under cell `index` along one axis, at least one.
  const span = (origin, index, limit) => {
    const start = Math.floor(origin + index * cell);
    const end = Math.max(Math.floor(origin + (index + 1) * cell), start + 1);
    return [start, end, Math.max(start, 0), Math.min(end, limit)];
  };

  const pixels = new Array((BITMAP / BLOCK) ** 2).fill(0);
  for (let row = 0; row < BITMAP; row += 1) {
    const [y0, y1, yFrom, yTo] = span(originY, row, height);
    for (let col = 0; col < BITMAP; col += 1) {
      const [x0, x1, xFrom, xTo] = span(originX, col, width);
      let sum = 0;
      for (let y = yFrom; y < yTo; y += 1) {
        for (let x = xFrom; x < xTo; x += 1) {
          sum += darkness[y * width + x];
        }
      }
      // Outside the canvas is white paper: divide by the whole cell.
      if (sum / ((y1 - y0) * (x1 - x0)) > INKED) {
        const block = Math.floor(row / BLOCK) * (BITMAP / BLOCK);
        pixels[block + Math.floor(col / BLOCK)] += 1;
      }
    }
  }
  return pixels;
}
