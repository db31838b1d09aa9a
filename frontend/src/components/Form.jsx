import { Children, cloneElement, useId } from "react";
import { choiceLabel } from "../labels.js";

/**
 * A labelled form control with its hint and error beside it, not inside the label: the label names the
 * control, and the hint and error are tied to it with aria-describedby so screen readers read them after it.
 * `children` is the one control (input, select); it gets the id and ARIA attributes.
 */
export function Field({ label, hint, error, children }) {
  const id = useId();
  const hintId = hint ? `${id}-hint` : null;
  const errorId = error ? `${id}-error` : null;
  const control = Children.only(children);
  return (
    <div className={`field${error ? " field-invalid" : ""}`}>
      <label className="field-label" htmlFor={id}>
        {label}
      </label>
      {cloneElement(control, {
        id,
        "aria-describedby": [errorId, hintId].filter(Boolean).join(" ") || undefined,
        "aria-invalid": error ? true : undefined,
      })}
      {hint && (
        <p className="hint" id={hintId}>
          {hint}
        </p>
      )}
      <FieldError id={errorId} error={error} />
    </div>
  );
}

/** A field's error message; `id` is what the control's aria-describedby points at. */
export function FieldError({ id, error }) {
  if (!error) return null;
  return (
    <p className="field-error" id={id}>
      {error}
    </p>
  );
}

/** A <select> of `choices` (API names) shown with `labels`; the portal's default is marked. */
export function ChoiceSelect({ choices, labels, portalDefault, ...props }) {
  return (
    <select {...props}>
      {choices.map((choice) => (
        <option key={choice} value={choice}>
          {choiceLabel(labels, choice)}
          {choice === portalDefault ? " (portal default)" : ""}
        </option>
      ))}
    </select>
  );
}
