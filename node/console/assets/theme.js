// Applies the stored colour theme before the first paint (a classic script
// in <head>, so there is no flash of the wrong theme). Without a stored
// choice the CSS follows prefers-color-scheme.
(function () {
  'use strict';
  try {
    var t = window.localStorage.getItem('vigil.theme');
    if (t === 'dark' || t === 'light') {
      document.documentElement.setAttribute('data-theme', t);
    }
  } catch (e) { /* storage disabled: follow the system */ }
})();
