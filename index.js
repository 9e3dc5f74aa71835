#!/usr/bin/env node
// The published bin: loads the bundle built by `npm run build`.
import './dist/index.js';
