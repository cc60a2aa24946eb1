// medclaim page behaviour. Loaded as a file (CSP forbids inline script); pages work without it.
(function () {
  "use strict";
  // Ask before actions marked data-confirm.
  document.addEventListener("submit", function (e) {
    var form = e.target;
    var msg = form.getAttribute && form.getAttribute("data-confirm");
    if (msg && !window.confirm(msg)) e.preventDefault();
  });
})();
