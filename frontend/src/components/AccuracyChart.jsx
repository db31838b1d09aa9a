import { useMemo, useState } from "react";
import { Empty } from "./States.jsx";

// The global model's validation scores over rounds, as a plain SVG line chart (no chart library: two series,
// scores in [0, 1], one point per model version).

const SERIES = [
  { key: "val_accuracy", label: "Validation accuracy", className: "series-accuracy", marker: "circle" },
  { key: "val_auc", label: "Validation AUC", className: "series-auc", marker: "square" },
];
const WIDTH = 640;
const HEIGHT = 260;
const MARGIN = { top: 16, right: 20, bottom: 40, left: 48 };

export function modelLines(models) {
  const lines = new Map();
  for (const model of models || []) {
    const key = `${model.architecture}/${model.num_classes}`;
    if (!lines.has(key)) lines.set(key, []);
    lines.get(key).push(model);
  }
  for (const list of lines.values()) list.sort((a, b) => a.version - b.version);
  return lines;
}

export function chartPoints(models) {
  return (models || [])
    .filter((model) => SERIES.some((series) => typeof model.metrics?.[series.key] === "number"))
    .map((model) => ({
      version: model.version,
      round: model.produced_by,
      values: Object.fromEntries(SERIES.map((series) => [series.key, model.metrics?.[series.key]])),
    }));
}

export function AccuracyChart({ models }) {
  const lines = useMemo(() => modelLines(models), [models]);
  const keys = [...lines.keys()];
  const newest = useMemo(() => {
    let best = null;
    for (const [key, list] of lines) {
      const last = list[list.length - 1];
      if (!best || new Date(last.created_at) > new Date(best.created)) best = { key, created: last.created_at };
    }
    return best?.key ?? null;
  }, [lines]);
  const [chosen, setChosen] = useState(null);
  const lineKey = chosen && lines.has(chosen) ? chosen : newest;
  const points = chartPoints(lineKey ? lines.get(lineKey) : []);

  return (
    <figure className="chart" aria-label="Global model accuracy over rounds">
      {keys.length > 1 && (
        <label className="chart-line-picker">
          Model line{" "}
          <select value={lineKey || ""} onChange={(event) => setChosen(event.target.value)}>
            {keys.map((key) => (
              <option key={key} value={key}>
                {key.replace("/", " · ")} classes
              </option>
            ))}
          </select>
        </label>
      )}
      {points.length === 0 ? (
        <Empty title="No evaluated model yet">
          Scores appear when a round completes and the portal has validation data (DH_VALIDATION_DATA).
        </Empty>
      ) : (
        <ChartSvg points={points} />
      )}
    </figure>
  );
}

function ChartSvg({ points }) {
  const versions = points.map((point) => point.version);
  const minX = Math.min(...versions);
  const maxX = Math.max(...versions);
  const plotWidth = WIDTH - MARGIN.left - MARGIN.right;
  const plotHeight = HEIGHT - MARGIN.top - MARGIN.bottom;
  const x = (version) => MARGIN.left + (maxX === minX ? plotWidth / 2 : ((version - minX) / (maxX - minX)) * plotWidth);
  const y = (value) => MARGIN.top + (1 - value) * plotHeight;
  const step = Math.max(1, Math.ceil(points.length / 12));
  const shown = SERIES.filter((series) => points.some((point) => typeof point.values[series.key] === "number"));

  return (
    <>
      <svg viewBox={`0 0 ${WIDTH} ${HEIGHT}`} role="img" data-testid="accuracy-chart">
        <title>Validation scores of each global model version</title>
        {[0, 0.25, 0.5, 0.75, 1].map((tick) => (
          <g key={tick} className="grid">
            <line x1={MARGIN.left} x2={WIDTH - MARGIN.right} y1={y(tick)} y2={y(tick)} />
            <text x={MARGIN.left - 8} y={y(tick) + 4} textAnchor="end">
              {tick.toFixed(2)}
            </text>
          </g>
        ))}
        {points.map((point, index) =>
          index % step === 0 || index === points.length - 1 ? (
            <text key={point.version} className="axis-label" x={x(point.version)} y={HEIGHT - MARGIN.bottom + 18} textAnchor="middle">
              v{point.version}
            </text>
          ) : null,
        )}
        <text className="axis-title" x={MARGIN.left + plotWidth / 2} y={HEIGHT - 4} textAnchor="middle">
          Global model version (one per completed round)
        </text>
        {shown.map((series) => {
          const defined = points.filter((point) => typeof point.values[series.key] === "number");
          const path = defined.map((point, index) => `${index ? "L" : "M"}${x(point.version)},${y(point.values[series.key])}`).join(" ");
          return (
            <g key={series.key} className={series.className} data-series={series.key}>
              <path d={path} fill="none" />
              {defined.map((point) => {
                const value = point.values[series.key];
                const tooltip = `v${point.version}${point.round ? ` (round ${point.round})` : ""}: ${series.label.toLowerCase()} ${value.toFixed(4)}`;
                return series.marker === "circle" ? (
                  <circle key={point.version} cx={x(point.version)} cy={y(value)} r={4}>
                    <title>{tooltip}</title>
                  </circle>
                ) : (
                  <rect key={point.version} x={x(point.version) - 3.5} y={y(value) - 3.5} width={7} height={7}>
                    <title>{tooltip}</title>
                  </rect>
                );
              })}
            </g>
          );
        })}
      </svg>
      <figcaption className="legend">
        {shown.map((series) => (
          <span key={series.key} className={`legend-item ${series.className}`}>
            <span className="swatch" aria-hidden="true" /> {series.label}
          </span>
        ))}
      </figcaption>
    </>
  );
}
