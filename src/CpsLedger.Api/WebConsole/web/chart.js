// The points explanation as a waterfall: one row per line of the explanation, in the order they happened, each bar running
// from the total before it to the total after it (green: points allocated, red: removed, purple: manual adjustment), and
// the total last. Drawn as SVG with no library; the table beside it carries the same figures for screen readers.

const SVG = 'http://www.w3.org/2000/svg';
const ROW = 24;
const LABEL_WIDTH = 260;
const VALUE_WIDTH = 70;
const PLOT_WIDTH = 520;

function el(name, attrs = {}, text) {
  const node = document.createElementNS(SVG, name);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, String(value));
  if (text !== undefined) node.textContent = text;
  return node;
}

export function lineLabel(line) {
  if (!line.registrationId) return `Manual adjustment${line.ticketReference ? ` (${line.ticketReference})` : ''}`;
  return `${line.modelName || line.modelCode}${line.serialNumber ? ` · ${line.serialNumber}` : ''}`;
}

export function lineKind(line) {
  if (!line.registrationId) return 'adjust';
  return line.points < 0 ? 'minus' : 'plus';
}

/** What a line of each kind did, in the programme's words: the explanation's "What" column and the chart's legend. */
export const KIND_WORDS = { plus: 'allocated', minus: 'removed', adjust: 'manual adjustment' };

const COLOURS = { plus: '#11702f', minus: '#b3261e', adjust: '#5b3fa8', rest: '#6b7480', total: '#102a43' };

/** An SVG element: the waterfall of the explanation's lines. */
export function waterfall(explanation, { title = 'How the points total is built up', from = 0 } = {}) {
  const steps = [];
  let running = 0;
  // The lines before those drawn (the table shows them on "Show all"), as one bar: the total still adds up.
  const rest = explanation.lines.slice(0, from);
  if (rest.length) {
    const points = rest.reduce((sum, line) => sum + line.points, 0);
    steps.push({ label: `${rest.length} earlier ${rest.length === 1 ? 'line' : 'lines'}`, from: running, to: running + points, points, kind: 'rest' });
    running += points;
  }
  for (const line of explanation.lines.slice(from)) {
    steps.push({ label: lineLabel(line), from: running, to: running + line.points, points: line.points, kind: lineKind(line) });
    running += line.points;
  }
  steps.push({ label: 'Total', from: 0, to: explanation.pointsTotal, points: explanation.pointsTotal, kind: 'total' });

  const values = steps.flatMap(s => [s.from, s.to]);
  const min = Math.min(0, ...values);
  const max = Math.max(1, ...values);
  const x = v => LABEL_WIDTH + ((v - min) / (max - min)) * PLOT_WIDTH;
  const width = LABEL_WIDTH + PLOT_WIDTH + VALUE_WIDTH + 10;
  const height = steps.length * ROW + 30;

  const id = `chart-${Math.random().toString(36).slice(2)}`;
  const svg = el('svg', { width, height, viewBox: `0 0 ${width} ${height}`, role: 'img', 'aria-labelledby': `${id}-t ${id}-d` });
  svg.append(el('title', { id: `${id}-t` }, title));
  svg.append(el('desc', { id: `${id}-d` },
    (rest.length ? `The ${rest.length} earlier lines as one bar and the latest ${explanation.lines.length - from} of ${explanation.lines.length},`
      : `${explanation.lines.length} lines`) + ` from 0 to a total of ${explanation.pointsTotal} points; the table below lists the same lines.`));

  // Axis: zero and the largest value, with a faint grid line at each.
  for (const tick of [...new Set([min, 0, max])]) {
    svg.append(el('line', { x1: x(tick), x2: x(tick), y1: 0, y2: steps.length * ROW, stroke: tick === 0 ? '#4a5361' : '#c9ced6', 'stroke-width': 1 }));
    svg.append(el('text', { x: x(tick), y: steps.length * ROW + 16, 'text-anchor': 'middle' }, String(tick)));
  }

  steps.forEach((step, i) => {
    const y = i * ROW;
    const left = x(Math.min(step.from, step.to));
    const barWidth = Math.max(2, Math.abs(x(step.to) - x(step.from)));
    const row = el('g', { 'data-kind': step.kind });
    const label = step.label.length > 38 ? `${step.label.slice(0, 37)}…` : step.label;
    row.append(el('text', { x: LABEL_WIDTH - 8, y: y + 16, 'text-anchor': 'end', 'font-weight': step.kind === 'total' ? 700 : 400 }, label));
    row.append(el('rect', { x: left, y: y + 4, width: barWidth, height: ROW - 8, fill: COLOURS[step.kind], rx: 2 }));
    // A thin connector from one bar's end to the next bar's start, so the running total can be followed.
    if (i < steps.length - 2) {
      row.append(el('line', { x1: x(step.to), x2: x(step.to), y1: y + ROW - 4, y2: y + ROW + 4, stroke: '#4a5361', 'stroke-dasharray': '2 2' }));
    }
    // A step says its change with a sign; the total only its minus, below zero (a deduction may take it there).
    const sign = step.points < 0 ? '−' : step.kind === 'total' || step.points === 0 ? '' : '+';
    row.append(el('text', { x: LABEL_WIDTH + PLOT_WIDTH + 8, y: y + 16, 'font-weight': 600 }, `${sign}${Math.abs(step.points)}`));
    row.append(el('title', {}, `${step.label}: ${sign}${Math.abs(step.points)} (running total ${step.to})`));
    svg.append(row);
  });
  return svg;
}
