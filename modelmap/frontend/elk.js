// The ER diagram's layout engine: elkjs (Eclipse Layout Kernel, from npm) exposed to
// static/modelmap/erd_layout.js as window.PgElk. The layout itself runs in a Web Worker
// (static/build/elk-worker.js, copied from elkjs by scripts/build_assets.mjs), so a large diagram
// never blocks the page.
import ELK from "elkjs/lib/elk-api.js";

window.PgElk = ELK;
