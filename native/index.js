'use strict';
// Loads the native engine (build/Release/uring_lab.node). See index.d.ts for the API.
const path = require('node:path');

const addonPath = path.join(__dirname, 'build', 'Release', 'uring_lab.node');

let addon;
try {
  addon = require(addonPath);
} catch (err) {
  if (err && err.code === 'MODULE_NOT_FOUND') {
    const e = new Error('native addon not built: run npm run build:native');
    e.code = 'ENOTBUILT';
    e.cause = err;
    throw e;
  }
  throw err;
}

module.exports = {
  PROTOCOL_VERSION: addon.PROTOCOL_VERSION,
  start: addon.start,
  startAsync: addon.startAsync,
  snapshot: addon.snapshot,
  stop: addon.stop,
  stopAsync: addon.stopAsync,
  connectionEchoes: addon.connectionEchoes,
  cancelStart: addon.cancelStart,
  memoryNeeds: addon.memoryNeeds,
  pinThreads: addon.pinThreads,
  setLabThreadsBatch: addon.setLabThreadsBatch,
  histogramLayout: addon.histogramLayout,
  histogramIndex: addon.histogramIndex,
  histogramIndexNs: addon.histogramIndexNs,
  probeCapabilities: addon.probeCapabilities,
  probesAttach: addon.probesAttach,
  probesAttachAsync: addon.probesAttachAsync,
  probesRead: addon.probesRead,
  probesDetach: addon.probesDetach,
  probesCheck: addon.probesCheck,
  probeHelper: addon.probeHelper,
  kernelHistogramLayout: addon.kernelHistogramLayout,
  kernelHistogramIndex: addon.kernelHistogramIndex,
  // Fault injection: see index.d.ts.
  injectStart: addon.injectStart,
  injectStopAll: addon.injectStopAll,
  injectActive: addon.injectActive,
  // Test/teaching hooks: see index.d.ts.
  debugPauseServer: addon.debugPauseServer,
  debugFailServer: addon.debugFailServer,
  debugRingFallback: addon.debugRingFallback,
  addonPath,
};
