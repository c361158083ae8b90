/** Colours and text styles shared by the charts (match styles.css). */
export const CHART = {
  text: '#9aa4b2',
  textStrong: '#c9d1db',
  axisLine: '#2a313b',
  splitLine: '#1d232b',
  throughput: '#5cb8ff',
  p99: '#f2a85b',
  phase: '#b58cff',
  warmup: 'rgba(139, 149, 163, 0.07)',
  tooltipBg: '#161b22',
  tooltipBorder: '#2f3742',
  mono: 'ui-monospace, "JetBrains Mono", "DejaVu Sans Mono", "Liberation Mono", monospace',
  sans: 'system-ui, -apple-system, "Segoe UI", Cantarell, "Noto Sans", "DejaVu Sans", sans-serif',
  /** Heatmap: violet → blue → teal → yellow (viridis-like, brightening). Even the lowest count
   *  (one request) stands ≥ 3:1 against the panel (WCAG non-text contrast; unit tested). */
  heat: ['#6a5acd', '#4f86d6', '#2fa8a8', '#3fc482', '#9bd84f', '#f4e35a'],
  /** The panel behind the charts (styles.css --panel), for contrast checks. */
  panel: '#141920',
  /** Percentile lines over the heatmaps: p50, p99, p99.9. */
  quantiles: ['#eef2f6', '#f2a85b', '#ff6b8b'],
  /** One colour per phase (percentile curves, phase table swatches); repeats after eight phases. */
  phases: ['#5cb8ff', '#f2a85b', '#3ecf8e', '#b58cff', '#ef6461', '#f4e35a', '#4dd0e1', '#c3cad3'],
  /** Both charts use the same horizontal margins so their time axes line up. */
  gridLeft: 64,
  gridRight: 76,
} as const;

export const tooltipBase = {
  backgroundColor: CHART.tooltipBg,
  borderColor: CHART.tooltipBorder,
  borderWidth: 1,
  padding: [6, 9],
  textStyle: { color: CHART.textStrong, fontSize: 12, fontFamily: CHART.mono },
  extraCssText: 'box-shadow: 0 4px 16px rgba(0,0,0,.45); border-radius: 4px;',
};

/** The colour of phase `index`, shared by the percentile plot and the phase table. */
export function phaseColor(index: number): string {
  return CHART.phases[((index % CHART.phases.length) + CHART.phases.length) % CHART.phases.length]!;
}

/** Axis lines, ticks, labels and split lines every chart shares. */
export const axisStyle = {
  axisLine: { lineStyle: { color: CHART.axisLine } },
  axisTick: { lineStyle: { color: CHART.axisLine } },
  axisLabel: { color: CHART.text, fontFamily: CHART.sans, fontSize: 11 },
  splitLine: { lineStyle: { color: CHART.splitLine } },
  nameTextStyle: { color: CHART.text, fontSize: 11 },
};
