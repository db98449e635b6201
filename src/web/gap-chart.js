/**
 * A small inline-SVG bar chart of inter-token gaps (milliseconds between consecutive token
 * events as they reached the page): one bar per gap, newest on the right, with a median line.
 * Batched deliveries show up as runs of ~0 ms bars.
 *
 * The scale follows the median, not the largest gap: after a drop and resume, the one gap that
 * spans the reconnect can be a thousand times the others and would flatten every other bar. Gaps
 * above the scale are drawn full height and marked off-scale; the gap that ended at a resume is
 * marked as such, and the caption gives both their sizes.
 */

const SVG = 'http://www.w3.org/2000/svg';
const WIDTH = 300;
const HEIGHT = 60;
/** Bars shown at most (the most recent gaps). */
const BARS = 150;
/** Fewer gaps than this still get bars this wide, so a short answer does not fill the chart. */
const MIN_SLOTS = 40;
/** The scale's top is this many medians (or the largest gap, when that is smaller). */
const MEDIANS_SHOWN = 4;
/** The scale never goes below this, so a median of ~0 ms (batched delivery) still shows bars. */
const MIN_SCALE_MS = 1;

/** @param {number[]} values */
export function median(values) {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/**
 * The chart's scale: the median of the gaps that did not span a resume, the top of the scale
 * (MEDIANS_SHOWN medians, at least MIN_SCALE_MS, at most the largest gap shown), and how many
 * shown gaps are above it.
 *
 * @param {number[]} gapsMs
 * @param {boolean[]} [afterResume] one flag per gap: true for a gap that ended at a resume
 */
export function chartScale(gapsMs, afterResume = []) {
  const shown = gapsMs.slice(-BARS);
  const steady = gapsMs.filter((_, i) => afterResume[i] !== true);
  const mid = median(steady);
  const largest = Math.max(0, ...shown);
  const scaleMs = Math.max(MIN_SCALE_MS, Math.min(largest, MEDIANS_SHOWN * mid));
  return { medianMs: mid, scaleMs, offScale: shown.filter((gap) => gap > scaleMs).length };
}

/**
 * @param {HTMLElement} parent
 * @returns {{ update(gapsMs: number[], afterResume?: boolean[]): void }}
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

  /** @param {number[]} gapsMs @param {boolean[]} [afterResume] */
  function update(gapsMs, afterResume = []) {
    const shown = gapsMs.slice(-BARS);
    const shownResume = afterResume.slice(-BARS);
    const { medianMs, scaleMs, offScale } = chartScale(gapsMs, afterResume);
    const width = WIDTH / Math.max(MIN_SLOTS, shown.length);
    while (bars.childNodes.length > shown.length) bars.lastChild?.remove();
    while (bars.childNodes.length < shown.length) bars.append(document.createElementNS(SVG, 'rect'));
    shown.forEach((gap, i) => {
      const rect = /** @type {SVGRectElement} */ (bars.childNodes[i]);
      const over = gap > scaleMs;
      const h = Math.max(1, (Math.min(gap, scaleMs) / scaleMs) * (HEIGHT - 2));
      rect.setAttribute('x', (i * width).toFixed(2));
      rect.setAttribute('y', (HEIGHT - h).toFixed(2));
      rect.setAttribute('width', Math.max(0.5, width - 0.6).toFixed(2));
      rect.setAttribute('height', h.toFixed(2));
      const classes = [over ? 'off-scale' : '', shownResume[i] === true ? 'resume' : ''].filter(Boolean);
      if (classes.length > 0) rect.setAttribute('class', classes.join(' '));
      else rect.removeAttribute('class');
    });
    const y = (HEIGHT - (medianMs / scaleMs) * (HEIGHT - 2)).toFixed(2);
    medianLine.setAttribute('y1', y);
    medianLine.setAttribute('y2', y);
    medianLine.setAttribute('visibility', shown.length > 0 ? 'visible' : 'hidden');
    const resumeGaps = gapsMs.filter((_, i) => afterResume[i] === true);
    const parts =
      gapsMs.length === 0
        ? ['inter-token gaps: none yet']
        : [
            `inter-token gaps: ${gapsMs.length}`,
            `median ${medianMs.toFixed(1)} ms`,
            `max ${Math.max(...gapsMs).toFixed(1)} ms`,
            `scale 0–${scaleMs.toFixed(1)} ms${offScale > 0 ? `, ${offScale} above it` : ''}`,
            ...resumeGaps.map((gap) => `resume gap ${gap.toFixed(0)} ms (marked)`),
          ];
    const text = parts.join(' · ');
    caption.textContent = text;
    svg.setAttribute('aria-label', text);
    figure.dataset.gaps = String(gapsMs.length);
    figure.dataset.scaleMs = scaleMs.toFixed(3);
    figure.dataset.medianMs = medianMs.toFixed(3);
    figure.dataset.resumeGaps = String(resumeGaps.length);
  }

  update([]);
  return { update };
}
