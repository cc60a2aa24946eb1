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

// ---- Console imports (issue 6): upload with progress, result swapped in place so the chosen
// file stays selected for "Import". Without this script the form posts and the page reloads.
(function () {
  "use strict";
  document.addEventListener("submit", function (e) {
    var form = e.target;
    if (!form.hasAttribute || !form.hasAttribute("data-import") || !window.FormData) return;
    e.preventDefault();
    var data = new FormData(form);
    var mode = e.submitter && e.submitter.value === "apply" ? "apply" : "preview";
    data.set("mode", mode);
    var progress = form.querySelector(".import-progress");
    var bar = progress.querySelector("progress");
    var label = progress.querySelector(".import-progress-text");
    var buttons = form.querySelectorAll("button");
    var busy = function (on) { buttons.forEach(function (b) { b.disabled = on; }); progress.hidden = !on; };
    busy(true);
    bar.value = 0;
    label.textContent = form.getAttribute("data-uploading");
    var xhr = new XMLHttpRequest();
    xhr.open("POST", form.action);
    xhr.setRequestHeader("X-Fragment", "1");
    xhr.upload.onprogress = function (ev) {
      if (ev.lengthComputable) bar.value = Math.round((ev.loaded / ev.total) * 100);
    };
    xhr.upload.onload = function () {
      bar.removeAttribute("value"); // indeterminate while the server checks or imports
      label.textContent = form.getAttribute(mode === "apply" ? "data-applying" : "data-checking");
    };
    xhr.onload = function () {
      busy(false);
      var ctype = xhr.getResponseHeader("Content-Type") || "";
      if (ctype.indexOf("text/html") === 0) {
        document.getElementById("import-result").innerHTML = xhr.responseText;
      } else {
        document.getElementById("import-result").textContent = xhr.responseText || form.getAttribute("data-failed");
      }
    };
    xhr.onerror = function () {
      busy(false);
      document.getElementById("import-result").textContent = form.getAttribute("data-failed");
    };
    xhr.send(data);
  });
})();
