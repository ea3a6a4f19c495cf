/* The task: draw a digit, see the model's guess, say whether it is right (or
 * give the right digit), keep it, up to three digits (one on a screening
 * unit), then submit. The submission is Mephisto's mnist final_submission,
 * {annotations: [...]}, each annotation being
 *   {currentAnnotation: the digit drawn, trueAnnotation (the correction, when
 *    the model was wrong), isCorrect, modelPrediction}. */
import React, { useRef, useState } from "react";
import { DrawingPad } from "./DrawingPad.jsx";

export function Instructions({ isScreeningUnit }) {
  if (isScreeningUnit) {
    return (
      <section id="instructions">
        <h1>Draw a digit for our model</h1>
        <p>
          Before the task: draw the number <strong>3</strong> in the box, tick
          "Correct?" if the model reads it as a 3, keep it and submit.
        </p>
      </section>
    );
  }
  return (
    <section id="instructions">
      <h1>Draw digits for our model</h1>
      <p>
        Draw a single digit (0 to 9) in the box with your mouse. A model guesses
        which digit it is after each stroke. Tick "Correct?" when the guess is
        right; otherwise type the digit you drew. Then keep it and draw the next.
      </p>
      <p>Draw up to three digits, then submit. Try to draw ones the model gets wrong.</p>
    </section>
  );
}

function describe(annotation) {
  const verdict = annotation.isCorrect
    ? "right"
    : `wrong, it said ${annotation.modelPrediction}`;
  return `A ${annotation.currentAnnotation}: the model was ${verdict}.`;
}

function isDigit(text) {
  return /^[0-9]$/.test(text.trim());
}

export function DigitTask({ taskData, classifyDigit, handleSubmit }) {
  const maxDigits = taskData && taskData.isScreeningUnit ? 1 : 3;
  const pad = useRef(null);
  const [annotations, setAnnotations] = useState([]);
  const [guess, setGuess] = useState(null); // {digit_prediction, confidence}
  const [error, setError] = useState("");
  const [isCorrect, setIsCorrect] = useState(false);
  const [correction, setCorrection] = useState("");
  const [submitted, setSubmitted] = useState(false);
  // One call at a time: strokes made while a call is out are classified
  // together once it answers.
  const calling = useRef(false);
  const drawnSinceCall = useRef(false);
  const generation = useRef(0); // bumped on clear, so late answers are dropped
  const guessShown = useRef(null);

  function classify() {
    const pixels = pad.current.pixels();
    if (pixels === null) {
      setError("Draw a digit first.");
      return;
    }
    if (calling.current) {
      drawnSinceCall.current = true;
      return;
    }
    calling.current = true;
    drawnSinceCall.current = false;
    const asked = generation.current;
    const answered = (response) => {
      calling.current = false;
      if (asked === generation.current) {
        if (response.error) {
          setError(response.error);
        } else {
          setError("");
          // A different guess has not been judged yet.
          if (guessShown.current?.digit_prediction !== response.digit_prediction) {
            setIsCorrect(false);
          }
          guessShown.current = response;
          setGuess(response);
        }
      }
      if (drawnSinceCall.current) {
        classify();
      }
    };
    classifyDigit({ pixels })
      .then(answered)
      // The package rejects a call made after the connection was lost.
      .catch((rejection) =>
        answered({ error: (rejection && rejection.reason) || "The call failed." })
      );
  }

  function clear() {
    generation.current += 1;
    drawnSinceCall.current = false;
    pad.current.clear();
    guessShown.current = null;
    setGuess(null);
    setError("");
    setIsCorrect(false);
    setCorrection("");
  }

  function keep() {
    const annotation = isCorrect
      ? { currentAnnotation: guess.digit_prediction, isCorrect: true }
      : {
          currentAnnotation: Number(correction),
          trueAnnotation: Number(correction),
          isCorrect: false,
        };
    annotation.modelPrediction = guess.digit_prediction;
    setAnnotations([...annotations, annotation]);
    clear();
  }

  if (submitted) {
    return <p id="submitted">Submitted, thank you.</p>;
  }
  const full = annotations.length >= maxDigits;
  const canKeep = guess !== null && (isCorrect || isDigit(correction)) && !full;

  return (
    <div>
      <Instructions isScreeningUnit={taskData && taskData.isScreeningUnit} />
      <div style={{ display: "flex", gap: 24, alignItems: "flex-start" }}>
        <div>
          <DrawingPad ref={pad} onStrokeEnd={classify} disabled={full} />
          <div>
            <button id="clear" type="button" onClick={clear} disabled={full}>
              Clear
            </button>{" "}
            <button id="classify" type="button" onClick={classify} disabled={full}>
              Classify
            </button>
          </div>
        </div>
        <div>
          <p id="prediction">
            {guess
              ? `The model thinks this is a ${guess.digit_prediction} ` +
                `(${Math.round(guess.confidence * 100)}%)`
              : "Draw a digit and the model will guess it."}
          </p>
          {error && (
            <p id="prediction-error" style={{ color: "#b00" }}>
              {error}
            </p>
          )}
          <label>
            <input
              id="is-correct"
              type="checkbox"
              checked={isCorrect}
              disabled={guess === null || full}
              onChange={(event) => setIsCorrect(event.target.checked)}
            />{" "}
            Correct?
          </label>
          {!isCorrect && (
            <p>
              <label>
                The digit I drew:{" "}
                <input
                  id="correction"
                  type="number"
                  min={0}
                  max={9}
                  value={correction}
                  disabled={guess === null || full}
                  onChange={(event) => setCorrection(event.target.value)}
                  style={{ width: 48 }}
                />
              </label>
            </p>
          )}
          <button id="keep" type="button" onClick={keep} disabled={!canKeep}>
            Keep this digit
          </button>
          <h3>
            Your digits ({annotations.length} of {maxDigits})
          </h3>
          <ol id="annotations">
            {annotations.map((annotation, index) => (
              <li key={index}>{describe(annotation)}</li>
            ))}
          </ol>
          <button
            id="submit"
            type="button"
            disabled={annotations.length === 0}
            onClick={() => {
              setSubmitted(true);
              handleSubmit({ annotations });
            }}
          >
            Submit
          </button>
        </div>
      </div>
    </div>
  );
}
