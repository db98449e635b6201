/**
 * A small inline-SVG bar chart of inter-token gaps (milliseconds between consecutive token
 * events as they reached the page): one bar per gap, newest on the right, scaled to the largest
 * gap shown, with a median line. Batched deliveries show up as runs of ~0 ms bars.
 */

const SVG = 'http://www.w3.org/2000/svg';
const WIDTH = 300;
const HEIGHT = 60;
/** Bars shown at most (the most recent gaps). */
const BARS = 150;
/** Fewer gaps than this still get bars this wide, so a short answer does not fill the chart. */
const MIN_SLOTS = 40;

/** @param {number[]} values */
function median(values) {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/**
 * @param {HTMLElement} parent
 * @returns {{ update(gapsMs: number[]): void }}
 */
export function createGapChart(parent) {
  const figure = document.createElement('figure');
  figure.className = 'gap-chart';
  figure.dataset.testid = 'gap-chart';
  const svg = document.createElementNS(SVG, 'svg');
  svg.setAttribute('viewBox', `0 0 ${WIDTH} ${HEIGHT}`);
  svg.setAttribute('preserveAspectRatio', 'none');
  svg.setAttribute('role', 'img');
  const bars = document.createElementNS(SVG, 'g');
  bars.setAttribute('class', 'bars');
  const medianLine = document.createElementNS(SVG, 'line');
  medianLine.setAttribute('class', 'median');
  medianLine.setAttribute('x1', '0');
  medianLine.setAttribute('x2', String(WIDTH));
  svg.append(bars, medianLine);
  const caption = document.createElement('figcaption');
  figure.append(svg, caption);
  parent.append(figure);

  /** @param {number[]} gapsMs */
  function update(gapsMs) {
    const shown = gapsMs.slice(-BARS);
    const max = Math.max(1, ...shown);
    const mid = median(gapsMs);
    const width = WIDTH / Math.max(MIN_SLOTS, shown.length);
    while (bars.childNodes.length > shown.length) bars.lastChild?.remove();
    while (bars.childNodes.length < shown.length) bars.append(document.createElementNS(SVG, 'rect'));
    shown.forEach((gap, i) => {
      const rect = /** @type {SVGRectElement} */ (bars.childNodes[i]);
      const h = Math.max(1, (gap / max) * (HEIGHT - 2));
      rect.setAttribute('x', (i * width).toFixed(2));
      rect.setAttribute('y', (HEIGHT - h).toFixed(2));
      rect.setAttribute('width', Math.max(0.5, width - 0.6).toFixed(2));
      rect.setAttribute('height', h.toFixed(2));
    });
    const y = (HEIGHT - (mid / max) * (HEIGHT - 2)).toFixed(2);
    medianLine.setAttribute('y1', y);
    medianLine.setAttribute('y2', y);
    medianLine.setAttribute('visibility', shown.length > 0 ? 'visible' : 'hidden');
    const text =
      gapsMs.length === 0
        ? 'inter-token gaps: none yet'
        : `inter-token gaps: ${gapsMs.length} · median ${mid.toFixed(1)} ms · max ${Math.max(...gapsMs).toFixed(1)} ms`;
    caption.textContent = text;
    svg.setAttribute('aria-label', text);
    figure.dataset.gaps = String(gapsMs.length);
  }

  update([]);
  return { update };
}
