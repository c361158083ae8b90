/**
 * ECharts, tree-shaken to what the lab still draws with it: the percentile plot (lines on log
 * axes, tooltip). The time charts (throughput, the three heatmaps) are painted on plain
 * canvases (heatmapPainter.ts, throughputPainter.ts): cheaper per frame at 10 frames/s.
 */
import * as echarts from 'echarts/core';
import { LineChart } from 'echarts/charts';
import { GridComponent, TooltipComponent } from 'echarts/components';
import { CanvasRenderer } from 'echarts/renderers';

echarts.use([LineChart, GridComponent, TooltipComponent, CanvasRenderer]);

export { echarts };
