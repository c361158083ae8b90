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
  start: addon.start,
  snapshot: addon.snapshot,
  stop: addon.stop,
  histogramLayout: addon.histogramLayout,
  histogramIndex: addon.histogramIndex,
  probeCapabilities: addon.probeCapabilities,
  addonPath,
};
