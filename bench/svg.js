// Renders bench results as one self-contained SVG: server CPU per message
// for every cell, and RSS per idle connection, one bar per server.
'use strict';
const fs = require('node:fs');

const COLORS = ['#1f6feb', '#58a6ff', '#8b949e', '#d29922', '#3fb950', '#a371f7', '#db61a2', '#f85149'];

function esc(s) {
  return String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** One horizontal bar panel; returns [svg fragment, height]. */
function panel(y0, title, unit, rows, names) {
  const W = 860;
  const left = 250;
  const barH = 14;
  const gap = 4;
  const max = Math.max(...rows.flatMap((r) => r.values.filter(Number.isFinite)), 1e-9);
  const out = [`<text x="20" y="${y0 + 18}" font-size="15" font-weight="bold">${esc(title)}</text>`];
  let y = y0 + 34;
  for (const row of rows) {
    out.push(`<text x="20" y="${y + 12}" font-size="12" fill="#333">${esc(row.label)}</text>`);
    row.values.forEach((v, i) => {
      const w = Number.isFinite(v) ? Math.max(1, ((W - left - 90) * v) / max) : 0;
      out.push(`<rect x="${left}" y="${y}" width="${w.toFixed(1)}" height="${barH}" fill="${COLORS[i % COLORS.length]}"><title>${esc(names[i])}: ${Number.isFinite(v) ? v.toFixed(2) : 'n/a'} ${esc(unit)}</title></rect>`);
      out.push(`<text x="${left + w + 6}" y="${y + 11}" font-size="11" fill="#333">${Number.isFinite(v) ? v.toFixed(2) : 'n/a'}</text>`);
      y += barH + gap;
    });
    y += 10;
  }
  return [out.join('\n'), y - y0];
}

/** Writes the chart. `table[cell][server]` holds medians from run.js. */
function writeSvg(file, names, table, cells, memory, facts) {
  const parts = [];
  let y = 10;
  // The legend wraps: five entries fit the 900 px width per row.
  const perRow = 5;
  const legend = names
    .map((n, i) => {
      const x = 20 + (i % perRow) * 165;
      const ly = y + 30 + Math.floor(i / perRow) * 20;
      return `<rect x="${x}" y="${ly}" width="12" height="12" fill="${COLORS[i % COLORS.length]}"/><text x="${x + 16}" y="${ly + 10}" font-size="12">${esc(n)}</text>`;
    })
    .join('\n');
  parts.push(`<text x="20" y="${y + 16}" font-size="18" font-weight="bold">edgeloop echo benchmark: lower is better</text>`, legend);
  y += 56 + (Math.ceil(names.length / perRow) - 1) * 20;
  const [cpu, h1] = panel(
    y,
    'Server CPU µs per message (median)',
    'µs',
    cells.map((c) => ({ label: c.label, values: names.map((n) => table[c.id][n].cpu) })),
    names,
  );
  parts.push(cpu);
  y += h1;
  const [mem, h2] = panel(y, 'RSS KiB per idle connection', 'KiB', [{ label: 'idle connections', values: names.map((n) => memory[n].perConn) }], names);
  parts.push(mem);
  y += h2;
  parts.push(`<text x="20" y="${y + 10}" font-size="11" fill="#666">${esc(`${facts.cpu}; ${facts.kernel}; Node ${facts.node}; ${facts.date}`)}</text>`);
  const H = y + 24;
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="900" height="${H}" viewBox="0 0 900 ${H}" font-family="sans-serif">\n<rect width="900" height="${H}" fill="#fff"/>\n${parts.join('\n')}\n</svg>\n`;
  fs.writeFileSync(file, svg);
}

module.exports = { writeSvg };
