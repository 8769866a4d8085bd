// Starts the app from files, not an inline script, so the CSP needs no 'unsafe-inline'.
import init from '/thrive-web.js';
init({ module_or_path: '/thrive-web_bg.wasm' });
