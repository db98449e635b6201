/**
 * The browser benchmark's figures the compare view shows beside a visitor's own: written by
 * `npm run bench -- --record` (bench/scenarios-browser.ts); `undefined` until a run has recorded them.
 * @type {{ revision: string, date: string, command: string, many: any[], drop: any[] } | undefined}
 */
export const FIGURES = undefined;
