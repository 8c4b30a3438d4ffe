// Two hand-drawn SVG charts of one signal's series (`GET /v1/signals/{id}/series`, oldest
// first, every step present): volume as bars stacked by sentiment label, and the mean compound
// sentiment (-1 … +1) as a line over the steps that had mentions. Colours come from style.css
// classes (the Content-Security-Policy allows no inline style).

const NS = 'http://www.w3.org/2000/svg';
const W = 600;
const H = 120;
const PAD = { left: 34, right: 6, top: 8, bottom: 18 };

function el(name, attrs, text) {
  const node = document.createElementNS(NS, name);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, String(v));
  if (text !== undefined) node.textContent = text;
  return node;
}

function clock(t) {
  const d = new Date(t);
  return Number.isNaN(d.getTime()) ? '' : d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
}

function frame(svg, label) {
  svg.replaceChildren();
  svg.setAttribute('viewBox', `0 0 ${W} ${H}`);
  svg.setAttribute('role', 'img');
  svg.setAttribute('aria-label', label);
  svg.append(el('title', {}, label));
}

function timeAxis(svg, points) {
  if (!points.length) return;
  const y = H - 4;
  svg.append(el('text', { x: PAD.left, y, class: 'axis' }, clock(points[0].t)));
  svg.append(el('text', { x: W - PAD.right, y, class: 'axis', 'text-anchor': 'end' }, clock(points[points.length - 1].t)));
}

// Volume: one <g class="bar" data-mentions=N> per step, its rects stacked positive / neutral /
// negative / unlabelled from the baseline. A provisional step (the minute in progress, counted
// from the stream until the exact rollup replaces it) is also of class "provisional".
export function drawVolume(svg, points) {
  const total = points.reduce((n, p) => n + (p.mentions || 0), 0);
  frame(svg, `Volume: ${total} mentions in ${points.length} minutes`);
  const max = Math.max(1, ...points.map((p) => p.mentions || 0));
  const plotW = W - PAD.left - PAD.right;
  const plotH = H - PAD.top - PAD.bottom;
  const base = PAD.top + plotH;
  const step = plotW / Math.max(1, points.length);
  const barW = Math.max(1, step * 0.8);
  svg.append(el('line', { x1: PAD.left, x2: W - PAD.right, y1: base, y2: base, class: 'baseline' }));
  svg.append(el('text', { x: PAD.left - 4, y: PAD.top + 8, class: 'axis', 'text-anchor': 'end' }, String(max)));
  svg.append(el('text', { x: PAD.left - 4, y: base, class: 'axis', 'text-anchor': 'end' }, '0'));
  points.forEach((p, i) => {
    const n = p.mentions || 0;
    const g = el('g', { class: p.provisional ? 'bar provisional' : 'bar', 'data-t': p.t, 'data-mentions': n });
    const parts = [
      ['pos', p.positive || 0],
      ['neu', p.neutral || 0],
      ['neg', p.negative || 0],
    ];
    const labelled = parts.reduce((s, [, c]) => s + c, 0);
    if (n > labelled) parts.push(['other', n - labelled]);
    let y = base;
    const x = PAD.left + i * step + (step - barW) / 2;
    for (const [cls, count] of parts) {
      if (!count) continue;
      const h = (count / max) * plotH;
      y -= h;
      g.append(el('rect', { x: x.toFixed(1), y: y.toFixed(1), width: barW.toFixed(1), height: h.toFixed(1), class: cls }));
    }
    const soFar = p.provisional ? ' so far' : '';
    g.append(el('title', {}, `${clock(p.t)}: ${n} mentions${soFar} (${p.positive || 0} positive, ${p.neutral || 0} neutral, ${p.negative || 0} negative)`));
    svg.append(g);
  });
  timeAxis(svg, points);
}

// Sentiment: the mean compound per step as a line, broken where a step had no mentions, with a
// point per step that had some.
export function drawSentiment(svg, points) {
  const known = points.filter((p) => typeof p.mean_compound === 'number');
  const weight = known.reduce((n, p) => n + p.mentions, 0);
  const mean = weight ? known.reduce((s, p) => s + p.mean_compound * p.mentions, 0) / weight : null;
  frame(svg, mean === null ? 'Sentiment: no mentions yet' : `Sentiment: mean compound ${mean.toFixed(2)} over the hour`);
  const plotW = W - PAD.left - PAD.right;
  const plotH = H - PAD.top - PAD.bottom;
  const step = plotW / Math.max(1, points.length);
  const yOf = (v) => PAD.top + ((1 - v) / 2) * plotH;
  const zero = yOf(0);
  svg.append(el('line', { x1: PAD.left, x2: W - PAD.right, y1: zero, y2: zero, class: 'baseline' }));
  svg.append(el('text', { x: PAD.left - 4, y: PAD.top + 8, class: 'axis', 'text-anchor': 'end' }, '+1'));
  svg.append(el('text', { x: PAD.left - 4, y: zero + 4, class: 'axis', 'text-anchor': 'end' }, '0'));
  svg.append(el('text', { x: PAD.left - 4, y: PAD.top + plotH, class: 'axis', 'text-anchor': 'end' }, '−1'));
  let d = '';
  let joined = false;
  points.forEach((p, i) => {
    if (typeof p.mean_compound !== 'number') {
      joined = false;
      return;
    }
    const x = PAD.left + i * step + step / 2;
    const y = yOf(Math.max(-1, Math.min(1, p.mean_compound)));
    d += `${joined ? 'L' : 'M'}${x.toFixed(1)},${y.toFixed(1)} `;
    joined = true;
  });
  if (d) svg.append(el('path', { d: d.trim(), class: 'line' }));
  points.forEach((p, i) => {
    if (typeof p.mean_compound !== 'number') return;
    const x = PAD.left + i * step + step / 2;
    const y = yOf(Math.max(-1, Math.min(1, p.mean_compound)));
    const dot = el('circle', {
      cx: x.toFixed(1),
      cy: y.toFixed(1),
      r: 3,
      class: p.mean_compound > 0.05 ? 'dot pos' : p.mean_compound < -0.05 ? 'dot neg' : 'dot neu',
      'data-t': p.t,
      'data-compound': p.mean_compound,
    });
    dot.append(el('title', {}, `${clock(p.t)}: mean compound ${p.mean_compound.toFixed(2)} over ${p.mentions} mentions`));
    svg.append(dot);
  });
  timeAxis(svg, points);
}
