// The Contribute page's Web Worker. It keeps the page's messages while the wasm loads, then
// hands them, and every later one, to the engine's worker loop (browser-worker/src/lib.rs).
import init, { serve } from './browser_worker.js';

const early = [];
self.onmessage = (event) => early.push(event.data);
await init();
serve(early);
