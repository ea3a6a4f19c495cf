/* The 280x280 canvas the worker draws on: thick black strokes on white.
 * `onStrokeEnd` is called when the pen is lifted; the parent reads the
 * drawing through the ref's `pixels()` and wipes it with `clear()`. */
import React, { forwardRef, useEffect, useImperativeHandle, useRef } from "react";
import { downsample } from "./downsample.js";

const SIZE = 280;
const LINE_WIDTH = 20;

function paintWhite(canvas) {
  const context = canvas.getContext("2d", { willReadFrequently: true });
  context.fillStyle = "#fff";
  context.fillRect(0, 0, canvas.width, canvas.height);
}

// The event's point in the canvas's own pixels (inside its border).
function pointOf(canvas, event) {
  const rect = canvas.getBoundingClientRect();
  const x = event.clientX - rect.left - canvas.clientLeft;
  const y = event.clientY - rect.top - canvas.clientTop;
  return {
    x: (x * canvas.width) / canvas.clientWidth,
    y: (y * canvas.height) / canvas.clientHeight,
  };
}

export const DrawingPad = forwardRef(function DrawingPad(
  { onStrokeEnd, disabled },
  ref
) {
  const canvasRef = useRef(null);
  const last = useRef(null);

  useEffect(() => paintWhite(canvasRef.current), []);

  useImperativeHandle(ref, () => ({
    clear: () => paintWhite(canvasRef.current),
    pixels: () => {
      const canvas = canvasRef.current;
      const context = canvas.getContext("2d", { willReadFrequently: true });
      return downsample(context.getImageData(0, 0, canvas.width, canvas.height));
    },
  }));

  function line(from, to) {
    const context = canvasRef.current.getContext("2d", { willReadFrequently: true });
    context.strokeStyle = "#000";
    context.lineWidth = LINE_WIDTH;
    context.lineCap = "round";
    context.lineJoin = "round";
    context.beginPath();
    context.moveTo(from.x, from.y);
    context.lineTo(to.x, to.y);
    context.stroke();
  }

  function start(event) {
    if (disabled || event.button !== 0) {
      return;
    }
    event.preventDefault();
    canvasRef.current.setPointerCapture(event.pointerId);
    last.current = pointOf(canvasRef.current, event);
    line(last.current, last.current); // a dot, for a tap without a move
  }

  function move(event) {
    if (last.current === null) {
      return;
    }
    const point = pointOf(canvasRef.current, event);
    line(last.current, point);
    last.current = point;
  }

  function end() {
    if (last.current === null) {
      return;
    }
    last.current = null;
    onStrokeEnd();
  }

  return (
    <canvas
      id="canvas"
      ref={canvasRef}
      width={SIZE}
      height={SIZE}
      onPointerDown={start}
      onPointerMove={move}
      onPointerUp={end}
      onPointerCancel={end}
      style={{
        border: "2px solid #333",
        cursor: disabled ? "not-allowed" : "crosshair",
        touchAction: "none",
        width: SIZE,
        height: SIZE,
      }}
    />
  );
});
