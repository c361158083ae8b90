/**
 * "Hold colour scale": while true every heatmap keeps the colour scale it had when the hold
 * began, so colours compare across time, phases, runs and screenshots (counts above the held
 * top saturate). Shared by all heatmaps: one switch in the live view.
 */
import { ref } from 'vue';

export const heatScaleHeld = ref(false);
