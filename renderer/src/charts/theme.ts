/** Colours and text styles shared by the charts (match styles.css). */
export const CHART = {
  text: '#8b95a3',
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
  /** Heatmap: dark violet → teal → yellow (viridis-like), the lowest count still visible on the background. */
  heat: ['#2b2462', '#2f4f8f', '#26808e', '#2fb07f', '#8fd14f', '#f4e35a'],
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
