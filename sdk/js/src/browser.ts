/** The single-file browser bundle (dist/sellerhub.js): the SDK and the UI elements. */
export * from "./index.js";
export { defineSellerhubElements } from "./components.js";
