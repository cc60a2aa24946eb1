// Passkeys (src/accounts/passkeys.rs): "使用指纹/面容登录" on the login page, the list and
// "添加指纹/面容" on "我的", the offer on the student home page, and the inline step-up prompt
// (window.medclaimReauth) that pages use when an action answers 401 reauth_required.
// Loaded as a file (CSP forbids inline script). WebAuthn wants ArrayBuffers where the server's
// JSON has base64url strings, and back.
(function () {
  "use strict";

  function toBuf(s) {
    s = s.replace(/-/g, "+").replace(/_/g, "/");
    while (s.length % 4) s += "=";
    var bin = atob(s);
    var out = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out.buffer;
  }

  function toB64u(buf) {
    var bytes = new Uint8Array(buf);
    var s = "";
    for (var i = 0; i < bytes.length; i++) s += String.fromCharCode(bytes[i]);
    return btoa(s).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function creationOptions(o) {
    var pk = o.publicKey;
    pk.challenge = toBuf(pk.challenge);
    pk.user.id = toBuf(pk.user.id);
    (pk.excludeCredentials || []).forEach(function (c) { c.id = toBuf(c.id); });
    return { publicKey: pk };
  }

  function requestOptions(o) {
    var pk = o.publicKey;
    pk.challenge = toBuf(pk.challenge);
    (pk.allowCredentials || []).forEach(function (c) { c.id = toBuf(c.id); });
    return { publicKey: pk };
  }

  function attestation(cred) {
    return {
      id: cred.id,
      rawId: toB64u(cred.rawId),
      type: cred.type,
      extensions: {},
      response: {
        attestationObject: toB64u(cred.response.attestationObject),
        clientDataJSON: toB64u(cred.response.clientDataJSON)
      }
    };
  }

  function assertion(cred) {
    var r = cred.response;
    return {
      id: cred.id,
      rawId: toB64u(cred.rawId),
      type: cred.type,
      extensions: {},
      response: {
        authenticatorData: toB64u(r.authenticatorData),
        clientDataJSON: toB64u(r.clientDataJSON),
        signature: toB64u(r.signature),
        userHandle: r.userHandle ? toB64u(r.userHandle) : null
      }
    };
  }

  // fetch with the CSRF header; resolves {status, body}.
  function call(method, url, csrf, body) {
    var init = { method: method, credentials: "same-origin", headers: { "X-CSRF-Token": csrf } };
    if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    return fetch(url, init).then(function (resp) {
      return resp.text().then(function (text) {
        var parsed = null;
        try { parsed = text ? JSON.parse(text) : null; } catch (e) { parsed = null; }
        return { status: resp.status, body: parsed };
      });
    });
  }

  function show(el, text) {
    if (!el) return;
    el.textContent = text;
    el.hidden = !text;
  }

  function supported() {
    return !!(window.PublicKeyCredential && navigator.credentials);
  }

  // Registers a passkey for the signed-in user; resolves the new passkey or rejects.
  function register(csrf, name) {
    return call("POST", "/api/v1/me/passkeys/register/start", csrf, {}).then(function (r) {
      if (r.status !== 200) throw r;
      return navigator.credentials.create(creationOptions(r.body));
    }).then(function (cred) {
      return call("POST", "/api/v1/me/passkeys/register/finish", csrf, { name: name, credential: attestation(cred) });
    }).then(function (r) {
      if (r.status !== 201) throw r;
      return r.body;
    });
  }

  window.medclaimPasskeys = { register: register, call: call, requestOptions: requestOptions, assertion: assertion };

  // ---- login page
  var login = document.getElementById("passkey-login");
  if (login && supported()) {
    login.hidden = false;
    var button = document.getElementById("passkey-sign-in");
    var error = document.getElementById("passkey-error");
    button.addEventListener("click", function () {
      var csrf = login.getAttribute("data-csrf");
      show(error, "");
      button.disabled = true;
      call("POST", "/api/v1/auth/passkey/start", csrf, {}).then(function (r) {
        if (r.status !== 200) throw r;
        return navigator.credentials.get(requestOptions(r.body));
      }).then(function (cred) {
        return call("POST", "/login/passkey", csrf, { credential: assertion(cred) });
      }).then(function (r) {
        if (r.status !== 200) throw r;
        window.location.assign(r.body.next || "/");
      }).catch(function () {
        button.disabled = false;
        show(error, login.getAttribute("data-failed"));
      });
    });
  }

  // ---- "我的": the list, rename, remove, add
  var section = document.getElementById("passkeys");
  if (section && supported()) {
    section.hidden = false;
    var csrf = section.getAttribute("data-csrf");
    var list = document.getElementById("passkey-list");
    var none = document.getElementById("passkey-none");
    var notice = document.getElementById("passkey-notice");
    var failure = document.getElementById("passkey-error");
    var attr = function (n) { return section.getAttribute("data-" + n); };
    var when = function (iso) { return iso ? iso.slice(0, 10) : attr("never-used"); };
    var refresh = function () {
      return call("GET", "/api/v1/me/passkeys", csrf).then(function (r) {
        if (r.status !== 200) throw r;
        list.textContent = "";
        none.hidden = r.body.length > 0;
        r.body.forEach(function (p) {
          var li = document.createElement("li");
          li.className = "passkey";
          li.id = "passkey-" + p.id;
          var name = document.createElement("strong");
          name.className = "passkey-name";
          name.textContent = p.name;
          var meta = document.createElement("span");
          meta.className = "muted";
          meta.textContent = attr("created") + " " + when(p.created_at) + " · " + attr("last-used") + " " + when(p.last_used_at);
          var rename = document.createElement("button");
          rename.type = "button";
          rename.className = "link passkey-rename";
          rename.textContent = attr("rename");
          rename.addEventListener("click", function () {
            var next = window.prompt(attr("name-prompt"), p.name);
            if (!next) return;
            call("PATCH", "/api/v1/me/passkeys/" + p.id, csrf, { name: next }).then(refresh);
          });
          var remove = document.createElement("button");
          remove.type = "button";
          remove.className = "link passkey-remove";
          remove.textContent = attr("remove");
          remove.addEventListener("click", function () {
            if (!window.confirm(attr("confirm-remove"))) return;
            call("DELETE", "/api/v1/me/passkeys/" + p.id, csrf).then(refresh);
          });
          li.append(name, " ", meta, " ", rename, " ", remove);
          list.appendChild(li);
        });
      });
    };
    refresh().catch(function () { show(failure, attr("failed")); });
    document.getElementById("passkey-add").addEventListener("click", function () {
      show(notice, "");
      show(failure, "");
      register(csrf, attr("default-name")).then(function () {
        show(notice, attr("added"));
        return refresh();
      }).catch(function () { show(failure, attr("failed")); });
    });
  }

  // ---- student home: after a password sign-in on a phone, offer to add one (once dismissed,
  // not again on this device).
  var offer = document.getElementById("passkey-offer");
  var small = window.matchMedia && (window.matchMedia("(max-width: 640px)").matches || window.matchMedia("(pointer: coarse)").matches);
  var dismissed = false;
  try { dismissed = window.localStorage.getItem("medclaim.passkeyOfferDismissed") === "1"; } catch (e) { dismissed = false; }
  if (offer && supported() && small && !dismissed) {
    var ocsrf = offer.getAttribute("data-csrf");
    var platform = PublicKeyCredential.isUserVerifyingPlatformAuthenticatorAvailable
      ? PublicKeyCredential.isUserVerifyingPlatformAuthenticatorAvailable() : Promise.resolve(false);
    Promise.all([platform, call("GET", "/api/v1/me/passkeys", ocsrf)]).then(function (both) {
      if (both[0] && both[1].status === 200 && both[1].body.length === 0) offer.hidden = false;
    }).catch(function () { /* no offer */ });
    document.getElementById("passkey-offer-dismiss").addEventListener("click", function () {
      offer.hidden = true;
      try { window.localStorage.setItem("medclaim.passkeyOfferDismissed", "1"); } catch (e) { /* private mode */ }
    });
    document.getElementById("passkey-offer-add").addEventListener("click", function () {
      register(ocsrf, offer.getAttribute("data-default-name")).then(function () {
        show(document.getElementById("passkey-offer-notice"), offer.getAttribute("data-added"));
        document.getElementById("passkey-offer-add").hidden = true;
        document.getElementById("passkey-offer-dismiss").hidden = true;
      }).catch(function () {
        show(document.getElementById("passkey-offer-notice"), offer.getAttribute("data-failed"));
      });
    });
  }
})();

// ---- Step-up (SPEC §9): when an action answers 401 reauth_required, ask inline for the
// password or a passkey (POST /api/v1/auth/reauth), then continue the action.
(function () {
  "use strict";
  var texts = document.getElementById("reauth-texts");
  if (!texts) return;
  var pk = window.medclaimPasskeys;
  var t = function (n) { return texts.getAttribute("data-" + n) || ""; };
  var csrf = t("csrf");

  function reauth() {
    return new Promise(function (resolve, reject) {
      var box = document.createElement("dialog");
      box.id = "reauth-dialog";
      var form = document.createElement("form");
      form.className = "stack";
      var title = document.createElement("h2");
      title.textContent = t("title");
      var hint = document.createElement("p");
      hint.className = "muted";
      hint.textContent = t("hint");
      var label = document.createElement("label");
      label.textContent = t("password");
      var input = document.createElement("input");
      input.type = "password";
      input.id = "reauth-password";
      input.autocomplete = "current-password";
      input.maxLength = 1024;
      label.appendChild(input);
      var error = document.createElement("p");
      error.className = "alert";
      error.id = "reauth-error";
      error.setAttribute("role", "alert");
      error.hidden = true;
      var confirm = document.createElement("button");
      confirm.type = "submit";
      confirm.className = "primary";
      confirm.id = "reauth-confirm";
      confirm.textContent = t("confirm");
      var cancel = document.createElement("button");
      cancel.type = "button";
      cancel.className = "link";
      cancel.id = "reauth-cancel";
      cancel.textContent = t("cancel");
      form.append(title, hint, label, error, confirm);
      var done = function () { box.close(); box.remove(); resolve(); };
      var fail = function (msg) { error.textContent = msg; error.hidden = false; };
      if (window.PublicKeyCredential && navigator.credentials) {
        var passkey = document.createElement("button");
        passkey.type = "button";
        passkey.id = "reauth-passkey";
        passkey.textContent = t("passkey");
        passkey.addEventListener("click", function () {
          pk.call("POST", "/api/v1/auth/reauth/start", csrf, {}).then(function (r) {
            if (r.status !== 200) throw r;
            return navigator.credentials.get(pk.requestOptions(r.body));
          }).then(function (cred) {
            return pk.call("POST", "/api/v1/auth/reauth", csrf, { credential: pk.assertion(cred) });
          }).then(function (r) {
            if (r.status !== 204) throw r;
            done();
          }).catch(function () { fail(t("failed")); });
        });
        form.appendChild(passkey);
      }
      form.appendChild(cancel);
      form.addEventListener("submit", function (e) {
        e.preventDefault();
        pk.call("POST", "/api/v1/auth/reauth", csrf, { password: input.value }).then(function (r) {
          if (r.status === 204) done(); else fail(t("wrong"));
        }).catch(function () { fail(t("failed")); });
      });
      cancel.addEventListener("click", function () { box.close(); box.remove(); reject(new Error("cancelled")); });
      box.appendChild(form);
      document.body.appendChild(box);
      box.showModal();
      input.focus();
    });
  }
  window.medclaimReauth = reauth;

  // Forms marked data-fresh-auth are sent by script; a 401 asks inline and sends them again.
  document.addEventListener("submit", function (e) {
    var form = e.target;
    if (!form.hasAttribute || !form.hasAttribute("data-fresh-auth") || e.defaultPrevented) return;
    e.preventDefault();
    var send = function () {
      // getAttribute: a field named "action" shadows `form.action`.
      return fetch(form.getAttribute("action") || window.location.pathname, {
        method: "POST",
        credentials: "same-origin",
        headers: { "X-Reauth-Inline": "1", "Content-Type": "application/x-www-form-urlencoded" },
        // The button that sent the form carries its name and value (e.g. action=reset_link).
        body: new URLSearchParams(new FormData(form, e.submitter || null))
      });
    };
    // A redirect is followed; a page answered in place (a one-time link, a refusal) replaces
    // this one, since asking for it again would not give the same answer.
    var follow = function (resp) {
      if (resp.redirected) return window.location.assign(resp.url);
      return resp.text().then(function (html) {
        document.open();
        document.write(html);
        document.close();
      });
    };
    send().then(function (resp) {
      if (resp.status !== 401) return follow(resp);
      return reauth().then(send).then(follow);
    }).catch(function () { /* cancelled: stay on the page with the values typed */ });
  });

  // The desk's "显示完整号码" (GET /api/v1/admin/bookings/{id}/phone).
  document.addEventListener("click", function (e) {
    var button = e.target.closest && e.target.closest(".reveal-phone");
    if (!button) return;
    var id = button.getAttribute("data-booking");
    var get = function () { return pk.call("GET", "/api/v1/admin/bookings/" + id + "/phone", csrf); };
    var show = function (r) {
      if (r.status !== 200) throw r;
      document.getElementById("phone-" + id).textContent = r.body.phone;
      button.hidden = true;
    };
    get().then(function (r) {
      if (r.status === 401 && r.body && r.body.error && r.body.error.code === "reauth_required") {
        return reauth().then(get).then(show);
      }
      return show(r);
    }).catch(function () { /* cancelled or refused: the number stays masked */ });
  });
})();

// ---- The payout batch's transfer file (console): full account numbers need a fresh
// authentication, so the link is fetched by script; a 401 reauth_required asks inline and
// fetches again, then the file is saved under the name the server gave.
(function () {
  "use strict";
  document.addEventListener("click", function (e) {
    var link = e.target.closest && e.target.closest("a.fresh-download");
    if (!link || !window.medclaimReauth) return;
    e.preventDefault();
    var href = link.getAttribute("href");
    var get = function () { return fetch(href, { credentials: "same-origin" }); };
    var save = function (resp) {
      if (!resp.ok) throw resp;
      var name = (resp.headers.get("content-disposition") || "").split("filename=\"")[1];
      return resp.blob().then(function (blob) {
        var a = document.createElement("a");
        a.href = URL.createObjectURL(blob);
        a.download = name ? name.replace(/".*$/, "") : href.split("/").pop();
        document.body.appendChild(a);
        a.click();
        a.remove();
      });
    };
    get().then(function (resp) {
      if (resp.status !== 401) return save(resp);
      return window.medclaimReauth().then(get).then(save);
    }).catch(function () { /* cancelled or refused */ });
  });
})();
