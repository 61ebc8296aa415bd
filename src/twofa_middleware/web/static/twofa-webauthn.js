// Security keys and passkeys (WebAuthn): progressive enhancement only.
// Markup: an element with data-twofa-webauthn="register" or "authenticate",
// data-begin-url and data-finish-url, rendered with the `hidden` attribute; it is
// shown only when this script runs and the browser can do WebAuthn, so without
// either the page's code form is all there is. Inside it: a csrf_token field (sent
// as the X-CSRF-Token header), a submit button, an element with
// data-twofa-webauthn-status (an aria-live region) and, for "register", a field
// named "name". An element with data-twofa-webauthn="reveal" (say, a link to the
// password re-confirmation before a key can be added) is only shown, nothing more.
// What it says comes from the element's data-text-* attributes (touch-add, touch,
// added, verified, cancelled, registered, insecure, unsupported, failed), which the
// page writes in its language: this file has no text of its own.
(function () {
  "use strict";

  function ready(fn) {
    if (document.readyState !== "loading") fn(); else document.addEventListener("DOMContentLoaded", fn);
  }

  function supported() {
    return !!(window.PublicKeyCredential && window.isSecureContext && navigator.credentials &&
      typeof navigator.credentials.create === "function" && window.fetch && window.Promise);
  }

  function toBuffer(b64url) {
    var b64 = b64url.replace(/-/g, "+").replace(/_/g, "/");
    while (b64.length % 4) b64 += "=";
    var raw = atob(b64), out = new Uint8Array(raw.length);
    for (var i = 0; i < raw.length; i++) out[i] = raw.charCodeAt(i);
    return out.buffer;
  }

  function toB64url(buffer) {
    var bytes = new Uint8Array(buffer), raw = "";
    for (var i = 0; i < bytes.length; i++) raw += String.fromCharCode(bytes[i]);
    return btoa(raw).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function ids(list) {
    return (list || []).map(function (c) {
      var copy = { type: c.type, id: toBuffer(c.id) };
      if (c.transports) copy.transports = c.transports;
      return copy;
    });
  }

  function creationOptions(o) {
    var options = Object.assign({}, o, { challenge: toBuffer(o.challenge), excludeCredentials: ids(o.excludeCredentials) });
    options.user = Object.assign({}, o.user, { id: toBuffer(o.user.id) });
    return options;
  }

  function requestOptions(o) {
    return Object.assign({}, o, { challenge: toBuffer(o.challenge), allowCredentials: ids(o.allowCredentials) });
  }

  function credentialJSON(credential) {
    var r = credential.response;
    var out = {
      id: credential.id,
      rawId: toB64url(credential.rawId),
      type: credential.type,
      authenticatorAttachment: credential.authenticatorAttachment || null,
      response: { clientDataJSON: toB64url(r.clientDataJSON) }
    };
    if (r.attestationObject) {
      out.response.attestationObject = toB64url(r.attestationObject);
      out.response.transports = typeof r.getTransports === "function" ? r.getTransports() : [];
    } else {
      out.response.authenticatorData = toB64url(r.authenticatorData);
      out.response.signature = toB64url(r.signature);
      out.response.userHandle = r.userHandle ? toB64url(r.userHandle) : null;
    }
    return out;
  }

  // Only a path on this site: a finish answer must not send the user elsewhere.
  function localPath(value) {
    return typeof value === "string" && value.charAt(0) === "/" && value.charAt(1) !== "/" &&
      value.charAt(1) !== "\\" ? value : null;
  }

  function post(url, csrf, body, failed) {
    var headers = { "Content-Type": "application/json", "Accept": "application/json" };
    if (csrf) headers["X-CSRF-Token"] = csrf;
    return fetch(url, {
      method: "POST", credentials: "same-origin", headers: headers, body: JSON.stringify(body)
    }).then(function (response) {
      return response.json().catch(function () { return {}; }).then(function (data) {
        if (!response.ok) {
          var error = new Error(data.message || failed);
          error.server = true;
          throw error;
        }
        return data;
      });
    });
  }

  function explain(error, mode, text) {
    if (error && error.server) return error.message;
    var name = error && error.name;
    if (name === "NotAllowedError" || name === "AbortError") return text("cancelled");
    if (name === "InvalidStateError" && mode === "register") return text("registered");
    if (name === "SecurityError") return text("insecure");
    if (name === "NotSupportedError") return text("unsupported");
    return text("failed");
  }

  function enhance(root) {
    var mode = root.getAttribute("data-twofa-webauthn");
    if (mode === "reveal") { root.hidden = false; return; }
    if (mode !== "register" && mode !== "authenticate") return;
    var status = root.querySelector("[data-twofa-webauthn-status]");
    var csrfField = root.querySelector("input[name=csrf_token]");
    var nameField = root.querySelector("input[name=name]");
    var button = root.querySelector("button");
    var form = root.tagName === "FORM" ? root : null;
    var busy = false;

    function say(message) { if (status) status.textContent = message; }
    function text(key) { return root.getAttribute("data-text-" + key) || ""; }

    function run(event) {
      if (event) event.preventDefault();
      if (busy) return;
      if (form && typeof form.reportValidity === "function" && !form.reportValidity()) return;
      busy = true;
      if (button) button.disabled = true;
      say(text(mode === "register" ? "touch-add" : "touch"));
      var csrf = csrfField ? csrfField.value : root.getAttribute("data-csrf-token");
      post(root.getAttribute("data-begin-url"), csrf, {}, text("failed")).then(function (data) {
        var options = data.publicKey || data;
        return mode === "register"
          ? navigator.credentials.create({ publicKey: creationOptions(options) })
          : navigator.credentials.get({ publicKey: requestOptions(options) });
      }).then(function (credential) {
        var body = { credential: credentialJSON(credential) };
        if (mode === "register") body.name = nameField ? nameField.value : "";
        else if (localPath(root.getAttribute("data-next"))) body.next = root.getAttribute("data-next");
        return post(root.getAttribute("data-finish-url"), csrf, body, text("failed"));
      }).then(function (data) {
        say(text(mode === "register" ? "added" : "verified"));
        var next = localPath(data.next) || localPath(data.redirect) || localPath(root.getAttribute("data-next"));
        if (next) window.location.assign(next); else window.location.reload();
      }).catch(function (error) {
        say(explain(error, mode, text));
        busy = false;
        if (button) button.disabled = false;
      });
    }

    if (form) form.addEventListener("submit", run);
    else if (button) button.addEventListener("click", run);
    root.hidden = false;
  }

  ready(function () {
    if (!supported()) return;
    document.querySelectorAll("[data-twofa-webauthn]").forEach(enhance);
  });
})();
