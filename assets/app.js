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

// Review console (src/review/pages.rs): keyboard shortcuts and photo zoom/rotate.
// a approve the current invoice, r reject it (pick a reason first, or press r to go to the
// reason; Enter in the reason rejects), j/k next/previous invoice, h/l previous/next record
// photo, n next case, ? help.
(function () {
  "use strict";
  var screen = document.getElementById("review-screen") || document.getElementById("review-queue");
  if (!screen) return;
  document.documentElement.setAttribute("data-keys", "ready");
  var invoices = Array.prototype.slice.call(document.querySelectorAll(".invoice"));
  var current = 0;
  function select(i) {
    if (!invoices.length) return;
    current = Math.max(0, Math.min(invoices.length - 1, i));
    invoices.forEach(function (el, k) { el.classList.toggle("current", k === current); });
    invoices[current].scrollIntoView({ block: "nearest" });
  }
  var firstPending = invoices.findIndex(function (el) { return el.classList.contains("pending"); });
  select(firstPending < 0 ? 0 : firstPending);
  function button(sel) {
    var inv = invoices[current];
    return inv && inv.querySelector(sel);
  }
  function hasReason(inv) {
    var p = inv.querySelector(".reason-preset"), t = inv.querySelector(".reason-text");
    return (p && p.value) || (t && t.value.trim());
  }
  // Enter inside a reason field rejects (never approves by accident).
  invoices.forEach(function (inv) {
    inv.addEventListener("keydown", function (e) {
      var t = e.target;
      if (e.key === "Enter" && t.classList && (t.classList.contains("reason-preset") || t.classList.contains("reason-text"))) {
        e.preventDefault();
        var b = inv.querySelector("button.reject");
        if (b) b.click();
      }
    });
  });
  // Shortcuts act on key release, so the key press that leaves a page is over before the
  // next page loads (and cannot reach it).
  function typing(e) {
    var tag = (e.target.tagName || "").toLowerCase();
    return tag === "input" || tag === "textarea" || tag === "select" || e.ctrlKey || e.metaKey || e.altKey;
  }
  document.addEventListener("keydown", function (e) {
    if (typing(e)) {
      if (e.key === "Escape" && e.target.blur) e.target.blur();
      return;
    }
    if ("arjkhln?".indexOf(e.key) >= 0) e.preventDefault();
  });
  document.addEventListener("keyup", function (e) {
    if (typing(e)) return;
    var help = document.getElementById("kbd-help");
    switch (e.key) {
      case "a": { var b = button("button.approve"); if (b) b.click(); break; }
      case "r": {
        var inv = invoices[current];
        if (!inv) break;
        if (hasReason(inv)) { var rb = inv.querySelector("button.reject"); if (rb) rb.click(); }
        else { var p = inv.querySelector(".reason-preset"); if (p) p.focus(); }
        break;
      }
      case "h": showRecord(record - 1); break;
      case "l": showRecord(record + 1); break;
      case "j": select(current + 1); break;
      case "k": select(current - 1); break;
      case "n": { var next = screen.getAttribute("data-next-case"); if (next) window.location.href = next; break; }
      case "?": if (help) help.hidden = !help.hidden; break;
      case "Escape": if (help) help.hidden = true; break;
    }
  });
  // Record photos (病历): one at a time beside the invoices, paged with h/l or the buttons.
  var records = Array.prototype.slice.call(document.querySelectorAll(".record"));
  var record = 0;
  function showRecord(i) {
    if (records.length < 2) return;
    record = (i + records.length) % records.length;
    records.forEach(function (el, k) { el.hidden = k !== record; });
    var counter = document.getElementById("record-counter");
    if (counter) counter.textContent = (record + 1) + " / " + records.length;
  }
  document.addEventListener("click", function (e) {
    var step = e.target.getAttribute && e.target.getAttribute("data-record-step");
    if (step) showRecord(record + parseInt(step, 10));
  });
  // Photos: zoom and rotate without inline style attributes (CSSOM is allowed by the CSP).
  document.addEventListener("click", function (e) {
    var action = e.target.getAttribute && e.target.getAttribute("data-photo");
    if (!action) return;
    var box = e.target.closest(".photo-box");
    var img = box && box.querySelector("img");
    if (!img) return;
    var scale = parseFloat(img.dataset.scale || "1"), turn = parseInt(img.dataset.turn || "0", 10);
    if (action === "in") scale = Math.min(4, scale * 1.25);
    if (action === "out") scale = Math.max(0.5, scale / 1.25);
    if (action === "rotate") turn = (turn + 90) % 360;
    img.dataset.scale = String(scale); img.dataset.turn = String(turn);
    img.style.transform = "scale(" + scale + ") rotate(" + turn + "deg)";
  });
})();
