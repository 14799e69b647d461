/* The token form (login.html). The server answers a wrong token with
 * this page at /?token=...: show the message, and take the token out of
 * the address bar and the history. */
'use strict';
(function () {
  const params = new URLSearchParams(window.location.search);
  if (!params.has('token')) return;
  document.getElementById('wrong').hidden = false;
  window.history.replaceState(null, '', '/');
})();
