// The API's shapes, defined once in src/hub/api/types.ts (types only) and read here by the dashboard.
export type * from '../api/types.js';
