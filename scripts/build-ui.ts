// Bundles the dashboard (src/hub/ui) with esbuild into dist/ui. esbuild is a dev dependency; a
// production install ships the built dist/ui.
import { buildDashboard } from '../src/hub/ui-build.js';

await buildDashboard();
