// The view library the dashboard imports: Preact, its hooks and htm, bundled
// into one ES module (static/vendor/preact-htm.js) by build.mjs.
import { h, render, Fragment } from "preact";
import htm from "htm";

export { h, render, Fragment };
export { useState, useEffect, useRef, useMemo, useCallback, useReducer } from "preact/hooks";
export const html = htm.bind(h);
