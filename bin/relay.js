#!/usr/bin/env node
// The bin runs the compiled CLI; `npm ci` builds it through the `prepare` script.
import { main } from '../dist/src/main.js';

main(process.argv.slice(2)).then(
  (code) => {
    if (typeof code === 'number') process.exitCode = code;
  },
  (err) => {
    console.error(err instanceof Error ? err.message : err);
    process.exitCode = 1;
  },
);
