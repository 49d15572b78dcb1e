/* Loaded in <head> without defer: sets the saved theme before first paint (no flash of the wrong theme).
   A file, not an inline script: the Content-Security-Policy allows scripts from 'self' only. */
try { var t = localStorage.getItem("theme"); if (t) document.documentElement.dataset.theme = t; } catch (e) { /* private mode */ }
