// medclaim student pages: shrink photos in the browser before upload (saves mobile data), fill
// in an invoice from the QR code on its photo, and check invoice amounts while they are typed.
// Loaded as a file (CSP: no inline script); every page also works without it — the server
// checks everything again.
(function () {
  "use strict";
  var MAX_SIDE = 2560;
  var QUALITY = 0.85;
  var pending = 0;

  function setBusy(form, busy) {
    var status = form.querySelector(".shrink-status");
    if (status) status.textContent = busy ? status.getAttribute("data-working") || "" : "";
    var buttons = form.querySelectorAll("button[type=submit]");
    for (var i = 0; i < buttons.length; i++) buttons[i].disabled = busy;
    if (busy) form.setAttribute("data-busy", "1"); else form.removeAttribute("data-busy");
  }

  // Draws the photo on a canvas no larger than MAX_SIDE and answers a JPEG blob.
  function shrink(file, done) {
    if (!/^image\/(jpeg|png|webp)$/.test(file.type)) { done(null); return; }
    var url = URL.createObjectURL(file);
    var img = new Image();
    img.onload = function () {
      var w = img.naturalWidth, h = img.naturalHeight;
      var scale = Math.min(1, MAX_SIDE / Math.max(w, h));
      if (scale === 1 && file.size < 1500000) { URL.revokeObjectURL(url); done(null); return; }
      var canvas = document.createElement("canvas");
      canvas.width = Math.round(w * scale);
      canvas.height = Math.round(h * scale);
      canvas.getContext("2d").drawImage(img, 0, 0, canvas.width, canvas.height);
      URL.revokeObjectURL(url);
      canvas.toBlob(function (blob) { done(blob); }, "image/jpeg", QUALITY);
    };
    img.onerror = function () { URL.revokeObjectURL(url); done(null); };
    img.src = url;
  }

  function onFileChosen(input) {
    var file = input.files && input.files[0];
    var form = input.form;
    if (!file || !form || typeof DataTransfer === "undefined") return;
    pending++;
    setBusy(form, true);
    shrink(file, function (blob) {
      if (blob && blob.size < file.size) {
        var name = file.name.replace(/\.[^.]*$/, "") + ".jpg";
        var dt = new DataTransfer();
        dt.items.add(new File([blob], name, { type: "image/jpeg" }));
        input.files = dt.files;
      }
      if (input.hasAttribute("data-scan")) {
        scan(input, function () { pending--; setBusy(form, false); validate(form, false); });
        return;
      }
      pending--;
      setBusy(form, false);
      validate(form, false);
    });
  }

  // The invoice photo is also sent to the scan endpoint (nothing is stored there; the form still
  // uploads the photo with the invoice): a readable QR code fills in the number, the amount and
  // the invoice date, which stay editable. Without a code, or on any failure, the typed fields
  // are left alone.
  function scan(input, done) {
    var form = input.form;
    var file = input.files && input.files[0];
    var status = form.querySelector(".qr-status");
    var csrf = form.elements.csrf && form.elements.csrf.value;
    if (!file || !status || !csrf || typeof fetch === "undefined" || typeof FormData === "undefined") { done(); return; }
    var attr = function (k) { return status.getAttribute("data-" + k) || ""; };
    status.textContent = attr("reading");
    var body = new FormData();
    body.append("photo", file, file.name);
    fetch(input.getAttribute("data-scan"), {
      method: "POST", credentials: "same-origin", headers: { "X-CSRF-Token": csrf }, body: body
    }).then(function (resp) {
      return resp.ok ? resp.json() : null;
    }).then(function (answer) {
      var qr = answer && answer.found ? answer.qr : null;
      var amount = qr && typeof qr.amount_cents === "number" ? (qr.amount_cents / 100).toFixed(2) : null;
      var date = qr && typeof qr.date === "string" && inRange(form.elements.invoice_date, qr.date) ? qr.date : null;
      if (!qr || (!qr.number && amount === null && date === null)) {
        status.textContent = answer ? attr("none") : "";
        status.removeAttribute("data-qr");
        done();
        return;
      }
      fill(form.elements.invoice_no, qr.number);
      fill(form.elements.total, amount);
      fill(form.elements.invoice_date, date);
      status.setAttribute("data-qr", "filled");
      status.textContent = attr("filled").replace("{number}", qr.number || "—")
        .replace("{amount}", amount === null ? "—" : amount).replace("{date}", qr.date || "—");
      done();
    }).catch(function () { status.textContent = ""; done(); });
  }

  // A QR date the date input would refuse (outside its min/max: the claim window) is not filled
  // in; the server does not take it either.
  function inRange(input, date) {
    if (!input || !/^\d{4}-\d{2}-\d{2}$/.test(date)) return false;
    var min = input.getAttribute("min"), max = input.getAttribute("max");
    return (!min || date >= min) && (!max || date <= max);
  }

  // Fills a field from the QR code unless the student typed something else into it.
  function fill(input, value) {
    if (!input || value === null || value === undefined) return;
    if (input.value.trim() !== "" && !input.hasAttribute("data-from-qr")) return;
    input.value = value;
    input.setAttribute("data-from-qr", "1");
  }

  document.addEventListener("change", function (e) {
    var t = e.target;
    if (t && t.matches && t.matches("input[type=file][data-shrink]")) onFileChosen(t);
  });

  // Yuan with at most two decimals, as the server accepts them.
  function cents(text) {
    text = (text || "").trim();
    if (!/^\d{1,12}(\.\d{1,2})?$/.test(text)) return null;
    var parts = text.split(".");
    return parseInt(parts[0], 10) * 100 + parseInt(((parts[1] || "") + "00").slice(0, 2), 10);
  }

  function show(form, field, message) {
    var el = form.querySelector('.field-error[data-for="' + field + '"]');
    if (el) el.textContent = message || "";
    var input = form.querySelector('[name="' + field + '"]');
    if (input) input.setAttribute("aria-invalid", message ? "true" : "false");
  }

  // Checks the invoice form; `all` also reports empty fields (on submit). Answers validity.
  function validate(form, all) {
    if (!form.hasAttribute("data-validate-invoice")) return true;
    var msg = function (k) { return form.getAttribute("data-msg-" + k) || ""; };
    var ok = true;
    var no = form.elements.invoice_no.value.trim();
    var totalText = form.elements.total.value, selfText = form.elements.self_pay.value;
    var total = cents(totalText), self = selfText.trim() === "" ? 0 : cents(selfText);
    var noMsg = !no && (all || form.elements.invoice_no.getAttribute("data-touched")) ? msg("required") : "";
    show(form, "invoice_no", noMsg); if (noMsg || !no) ok = ok && !!no;
    var totalMsg = "";
    if (totalText.trim() === "") { if (all) totalMsg = msg("required"); ok = false; }
    else if (total === null || total <= 0) { totalMsg = msg("amount"); ok = false; }
    show(form, "total", totalMsg);
    var selfMsg = "";
    if (self === null) { selfMsg = msg("amount"); ok = false; }
    else if (total !== null && total > 0 && self > total) { selfMsg = msg("exceeds"); ok = false; }
    show(form, "self_pay", selfMsg);
    var out = form.querySelector("[data-covered]");
    if (out) out.textContent = total !== null && self !== null && self <= total ? ((total - self) / 100).toFixed(2) : "—";
    var photo = form.elements.photo;
    if (photo && photo.hasAttribute("data-required")) {
      var missing = !photo.files || photo.files.length === 0;
      show(form, "photo", missing && all ? msg("photo") : "");
      if (missing) ok = false;
    }
    return ok;
  }

  document.addEventListener("input", function (e) {
    var form = e.target && e.target.form;
    if (!form || !form.hasAttribute("data-validate-invoice")) return;
    e.target.setAttribute("data-touched", "1");
    e.target.removeAttribute("data-from-qr");
    validate(form, false);
  });

  document.addEventListener("submit", function (e) {
    var form = e.target;
    if (form.getAttribute && form.getAttribute("data-busy")) { e.preventDefault(); return; }
    if (form.hasAttribute && form.hasAttribute("data-validate-invoice") && !validate(form, true)) {
      e.preventDefault();
    }
  });

  // The case form: a hospital on the designated list fills in its level (the server does the
  // same on save) and says so; an alias becomes the list's name when the field is left.
  function hospitalKey(s) {
    return String(s || "").replace(/[\uFF01-\uFF5E]/g, function (c) {
      return String.fromCharCode(c.charCodeAt(0) - 0xFEE0);
    }).replace(/[\s%_|\u3000]/g, "").toLowerCase();
  }
  function listedHospital(typed) {
    var key = hospitalKey(typed);
    var list = document.getElementById("designated-hospitals");
    if (!key || !list) return null;
    for (var i = 0; i < list.options.length; i++) {
      var o = list.options[i];
      if (hospitalKey(o.value) === key) return o;
      var aliases = (o.getAttribute("data-aliases") || "").split("\u3001");
      for (var j = 0; j < aliases.length; j++) if (aliases[j] && hospitalKey(aliases[j]) === key) return o;
    }
    return null;
  }
  function checkHospital(input, leaving) {
    var note = document.getElementById("hospital-listed");
    var o = listedHospital(input.value);
    if (!note) return;
    if (!o) { note.textContent = ""; return; }
    var level = o.getAttribute("data-level");
    var select = input.form && input.form.elements.hospital_level;
    if (select) select.value = level;
    var levels = (note.getAttribute("data-levels") || "").split("|");
    note.textContent = (note.getAttribute("data-listed") || "")
      .replace("{listed}", o.value).replace("{listed_level}", levels[+level] || level);
    if (leaving && input.value !== o.value) input.value = o.value;
  }
  document.addEventListener("input", function (e) {
    if (e.target && e.target.id === "hospital") checkHospital(e.target, false);
  });
  document.addEventListener("change", function (e) {
    if (e.target && e.target.id === "hospital") checkHospital(e.target, true);
  });
})();
