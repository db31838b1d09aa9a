import { errorMessage } from "../api.js";

export function Loading({ label = "Loading…" }) {
  return (
    <div className="state state-loading" role="status" aria-live="polite">
      <span className="spinner" aria-hidden="true" />
      {label}
    </div>
  );
}

function errorTitle(error) {
  switch (error?.status) {
    case 0:
      return "The portal cannot be reached";
    case 401:
      return "Please log in again";
    case 403:
      return "Refused";
    case 404:
      return "Not found, or not yours to see";
    case 409:
      return "Not possible right now";
    case 413:
      return "Too large";
    default:
      return error?.status >= 500 ? "The portal had a problem" : "Something went wrong";
  }
}

export function ErrorState({ error, onRetry, title }) {
  return (
    <div className="state state-error" role="alert">
      <strong>{title || errorTitle(error)}</strong>
      <p>{errorMessage(error)}</p>
      {onRetry && (
        <button type="button" className="button secondary" onClick={onRetry}>
          Try again
        </button>
      )}
    </div>
  );
}

/** An error inside a form or beside data that is still shown. */
export function InlineError({ error, prefix }) {
  if (!error) return null;
  return (
    <p className="inline-error" role="alert">
      {prefix ? `${prefix}: ` : ""}
      {errorMessage(error)}
    </p>
  );
}

export function Empty({ title, children, action }) {
  return (
    <div className="state state-empty">
      <strong>{title}</strong>
      {children && <p>{children}</p>}
      {action}
    </div>
  );
}

/**
 * The usual shape of a data section: spinner until the first answer, a designed error with retry when there
 * is nothing to show, an empty state, else the content; a failed refresh keeps the data and says so.
 */
export function Async({ result, isEmpty = defaultIsEmpty, empty, loadingLabel, children }) {
  const { data, error, loading, reload } = result;
  if (loading && data === undefined) return <Loading label={loadingLabel} />;
  if (error && data === undefined) return <ErrorState error={error} onRetry={reload} />;
  if (data === undefined) return <Loading label={loadingLabel} />;
  return (
    <>
      {error && <InlineError error={error} prefix="Could not refresh" />}
      {isEmpty(data) ? empty : children(data)}
    </>
  );
}

function defaultIsEmpty(data) {
  return Array.isArray(data) && data.length === 0;
}

/**
 * A form's error summary. Field errors (`fieldErrors`: the form's own checks, or the API's 400 `fields`) are
 * shown beside their fields, so this only says how many need fixing; an API error about anything not among
 * `shownFields`, or about no field at all, is shown in full.
 */
export function FormError({ error, fieldErrors = error?.fieldMessages || {}, shownFields = [] }) {
  const elsewhere = Object.keys(error?.fieldMessages || {}).filter((name) => !shownFields.includes(name));
  const count = Object.keys(fieldErrors).length;
  if (elsewhere.length === 0 && count > 0) {
    return (
      <p className="inline-error" role="alert">
        Please correct {count === 1 ? "the highlighted field" : `the ${count} highlighted fields`}.
      </p>
    );
  }
  return <InlineError error={error} />;
}
