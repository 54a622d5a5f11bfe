/** mpegts.js, in a module of its own so that bundlers split it out and only the FLV rung loads it. */
import mpegtsModule from 'mpegts.js';

type Mpegts = typeof mpegtsModule;

/** mpegts.js is a UMD bundle: depending on the bundler its API is the default export or under it. */
const api = mpegtsModule as Mpegts & { default?: Mpegts };
export const mpegts: Mpegts = typeof api.createPlayer === 'function' ? api : (api.default ?? api);

// Its own console logging is for debugging mpegts.js itself: keep warnings and errors only.
mpegts.LoggingControl.applyConfig({ enableAll: false, enableWarn: true, enableError: true });
