// Highlighting matched terms. The server's highlight offsets count Unicode code points, while
// JavaScript strings index UTF-16 units: an emoji before a term would shift a naive slice.
// Array.from(text) splits by code point, so offsets index it directly.

// `[start, end)` ranges sorted, clamped to `len`, empty ones dropped, overlapping or touching
// ones joined (several signals may highlight the same words).
export function mergeRanges(ranges, len) {
  const clean = [];
  for (const r of ranges || []) {
    if (!Array.isArray(r) || r.length !== 2) continue;
    const s = Math.max(0, Math.min(Number(r[0]), len));
    const e = Math.max(0, Math.min(Number(r[1]), len));
    if (Number.isFinite(s) && Number.isFinite(e) && s < e) clean.push([s, e]);
  }
  clean.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  const out = [];
  for (const [s, e] of clean) {
    const last = out[out.length - 1];
    if (last && s <= last[1]) last[1] = Math.max(last[1], e);
    else out.push([s, e]);
  }
  return out;
}

// `text` as a fragment of text nodes with <mark> around the ranges (code-point offsets).
// Built from text nodes only: mention text never becomes markup.
export function highlighted(text, ranges) {
  const points = Array.from(text || '');
  const fragment = document.createDocumentFragment();
  let at = 0;
  for (const [s, e] of mergeRanges(ranges, points.length)) {
    if (s > at) fragment.append(points.slice(at, s).join(''));
    const mark = document.createElement('mark');
    mark.textContent = points.slice(s, e).join('');
    fragment.append(mark);
    at = e;
  }
  if (at < points.length) fragment.append(points.slice(at).join(''));
  return fragment;
}
