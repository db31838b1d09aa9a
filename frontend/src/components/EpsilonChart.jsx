// A private campaign's epsilon over its rounds, as a plain SVG line: each round's running total (the privacy
// accountant's epsilon after that round), the rounds completed solid, those planned ahead hollow, and the
// coordinator's budget as a dashed line.

const WIDTH = 640;
const HEIGHT = 200;
const MARGIN = { top: 16, right: 20, bottom: 40, left: 48 };

export function epsilonPoints(rounds) {
  return (rounds || []).filter((row) => typeof row.epsilon === "number").map((row) => ({ number: row.number, epsilon: row.epsilon, spent: row.state === "COMPLETED" }));
}

export function EpsilonChart({ rounds, budget }) {
  const points = epsilonPoints(rounds);
  if (points.length === 0) return null;
  const top = Math.max(budget ?? 0, ...points.map((point) => point.epsilon)) * 1.1 || 1;
  const numbers = points.map((point) => point.number);
  const minX = Math.min(...numbers);
  const maxX = Math.max(...numbers);
  const plotWidth = WIDTH - MARGIN.left - MARGIN.right;
  const plotHeight = HEIGHT - MARGIN.top - MARGIN.bottom;
  const x = (number) => MARGIN.left + (maxX === minX ? plotWidth / 2 : ((number - minX) / (maxX - minX)) * plotWidth);
  const y = (value) => MARGIN.top + (1 - value / top) * plotHeight;
  const ticks = [0, top / 2, top].map((value) => Number(value.toPrecision(2)));
  const path = points.map((point, index) => `${index ? "L" : "M"}${x(point.number)},${y(point.epsilon)}`).join(" ");
  return (
    <figure className="chart" aria-label="Epsilon spent over the campaign's rounds">
      <svg viewBox={`0 0 ${WIDTH} ${HEIGHT}`} role="img" data-testid="epsilon-chart">
        <title>Differential privacy: epsilon after each round of the campaign</title>
        {ticks.map((tick) => (
          <g key={tick} className="grid">
            <line x1={MARGIN.left} x2={WIDTH - MARGIN.right} y1={y(tick)} y2={y(tick)} />
            <text x={MARGIN.left - 8} y={y(tick) + 4} textAnchor="end">
              {tick}
            </text>
          </g>
        ))}
        {points.map((point) => (
          <text key={point.number} className="axis-label" x={x(point.number)} y={HEIGHT - MARGIN.bottom + 18} textAnchor="middle">
            {point.number}
          </text>
        ))}
        <text className="axis-title" x={MARGIN.left + plotWidth / 2} y={HEIGHT - 4} textAnchor="middle">
          Campaign round
        </text>
        {budget != null && (
          <g className="series-budget" data-series="budget">
            <line x1={MARGIN.left} x2={WIDTH - MARGIN.right} y1={y(budget)} y2={y(budget)} />
            <text x={WIDTH - MARGIN.right} y={y(budget) - 6} textAnchor="end">
              budget {budget}
            </text>
          </g>
        )}
        <g className="series-epsilon" data-series="epsilon">
          <path d={path} fill="none" />
          {points.map((point) => (
            <circle key={point.number} cx={x(point.number)} cy={y(point.epsilon)} r={4} className={point.spent ? "spent" : "planned"}>
              <title>{`round ${point.number}: epsilon ${point.epsilon.toFixed(2)}${point.spent ? "" : " once it completes"}`}</title>
            </circle>
          ))}
        </g>
      </svg>
      <figcaption className="legend">
        <span className="legend-item series-epsilon">
          <span className="swatch" aria-hidden="true" /> Epsilon after each round (hollow: not completed yet)
        </span>
        {budget != null && (
          <span className="legend-item series-budget">
            <span className="swatch" aria-hidden="true" /> Budget
          </span>
        )}
      </figcaption>
    </figure>
  );
}
