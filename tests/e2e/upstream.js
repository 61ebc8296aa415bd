// A small app that is not Python: the upstream the e2e tests put twofa-middleware in front of.
//
// Node's built-in `http` module only (no npm). Its own users and server-side
// sessions in memory, as real apps keep them:
//
//   POST /api/register {username, password}   test-only: create (or reset) a user   -> 201
//   POST /api/login    {username, password}   -> 200 {"user"} + Set-Cookie sid=<new random>, 401 if wrong
//   GET  /api/me                              -> 200 {"user": NAME} for a session cookie, else 401
//   GET  /logout, /logout/...                 -> 200 "logged out" (an exempt-style path)
//   GET  /assets/...                          -> 200 "asset ..." (public)
//   GET  /public                              -> 200 "anonymous page"
//   ANY  /echo, /echo/...                     -> 200 JSON: the path, the headers, X-Twofa-User as received
//   GET  /__requests                          -> the requests seen so far, with the user each was from
//   anything else (/secret, /api/x, ...)      -> 200 "SECRET for NAME" for a session or X-Twofa-User, else 401
//
// Like many apps behind a proxy it trusts X-Twofa-User (the README says the
// proxy alone sets it), and it routes on the raw request target as received:
// `/secret/..;/_2fa/` is a page under /secret to it.
//
// Usage: node upstream.js [--port N] [--user NAME:PASSWORD]...
// Prints "listening PORT" on stdout once it accepts connections (port 0: any free one).
"use strict";

const http = require("http");
const crypto = require("crypto");

const users = new Map(); // name -> password
const sessions = new Map(); // sid -> name
const seen = []; // request targets, newest last

let port = 0;
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i++) {
  if (argv[i] === "--port") port = Number(argv[++i]);
  else if (argv[i] === "--user") {
    const spec = argv[++i];
    const at = spec.lastIndexOf(":");
    users.set(spec.slice(0, at), spec.slice(at + 1));
  }
}

// Every cookie of the Cookie header, as the `cookie` package (Express) reads it:
// split on ';', trim, first value of a name wins. Node joins repeated Cookie
// header lines with "; ", so a second line counts too.
function cookies(req) {
  const jar = Object.create(null);
  for (const part of (req.headers.cookie || "").split(";")) {
    const eq = part.indexOf("=");
    if (eq < 0) continue;
    const name = part.slice(0, eq).trim();
    let value = part.slice(eq + 1).trim();
    if (value.startsWith('"') && value.endsWith('"') && value.length >= 2) value = value.slice(1, -1);
    if (!(name in jar)) {
      try {
        jar[name] = decodeURIComponent(value);
      } catch (e) {
        jar[name] = value;
      }
    }
  }
  return jar;
}

function sessionUser(req) {
  const sid = cookies(req).sid;
  return sid !== undefined && sessions.has(sid) ? sessions.get(sid) : null;
}

function send(res, status, body, headers = {}) {
  const isJson = typeof body !== "string";
  const data = Buffer.from(isJson ? JSON.stringify(body) : body, "utf8");
  res.writeHead(status, {
    "Content-Type": isJson ? "application/json" : "text/plain; charset=utf-8",
    "Content-Length": data.length,
    ...headers,
  });
  res.end(data);
}

function readJson(req, done) {
  const chunks = [];
  let size = 0;
  req.on("data", (c) => {
    size += c.length;
    if (size <= 65536) chunks.push(c);
  });
  req.on("end", () => {
    try {
      done(JSON.parse(Buffer.concat(chunks).toString("utf8") || "{}"));
    } catch (e) {
      done(null);
    }
  });
}

const server = http.createServer((req, res) => {
  const target = req.url; // raw, exactly as received
  const path = target.split("?")[0];
  if (path !== "/__requests") {
    // Who the app takes the request to be from, as its protected pages would.
    seen.push({ method: req.method, target, user: sessionUser(req) ?? req.headers["x-twofa-user"] ?? null });
    if (seen.length > 5000) seen.shift();
  }

  if (path === "/__requests") return send(res, 200, { requests: seen });

  if (path === "/api/register" && req.method === "POST") {
    return readJson(req, (body) => {
      if (!body || typeof body.username !== "string" || typeof body.password !== "string") {
        return send(res, 400, { error: "bad request" });
      }
      users.set(body.username, body.password);
      return send(res, 201, { user: body.username });
    });
  }
  if (path === "/api/login" && req.method === "POST") {
    return readJson(req, (body) => {
      if (!body || !users.has(body.username) || users.get(body.username) !== body.password) {
        return send(res, 401, { error: "bad credentials" });
      }
      const sid = crypto.randomBytes(18).toString("base64url"); // a new value at every sign-in
      sessions.set(sid, body.username);
      return send(res, 200, { user: body.username }, { "Set-Cookie": `sid=${sid}; Path=/; HttpOnly` });
    });
  }
  if (path === "/api/me") {
    const user = sessionUser(req);
    return user === null ? send(res, 401, { error: "sign in" }) : send(res, 200, { user });
  }
  if (path === "/logout" || path.startsWith("/logout/")) return send(res, 200, "logged out");
  if (path.startsWith("/assets/")) return send(res, 200, "asset " + path);
  if (path === "/public") return send(res, 200, "anonymous page");
  if (path === "/echo" || path.startsWith("/echo/")) {
    const pairs = [];
    for (let i = 0; i < req.rawHeaders.length; i += 2) pairs.push([req.rawHeaders[i], req.rawHeaders[i + 1]]);
    return send(res, 200, {
      method: req.method,
      target,
      session_user: sessionUser(req),
      x_twofa_user: req.headers["x-twofa-user"] === undefined ? null : req.headers["x-twofa-user"],
      cookie: req.headers.cookie === undefined ? null : req.headers.cookie,
      authorization: req.headers.authorization === undefined ? null : req.headers.authorization,
      raw_headers: pairs,
    });
  }

  // Everything else is the app's protected content.
  const user = sessionUser(req) ?? req.headers["x-twofa-user"] ?? null;
  if (user === null || user === "") return send(res, 401, "sign in first");
  return send(res, 200, `SECRET for ${user}`);
});

server.on("clientError", (err, socket) => {
  if (socket.writable) socket.end("HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n");
});

server.listen(port, "127.0.0.1", () => {
  process.stdout.write(`listening ${server.address().port}\n`);
});

process.on("SIGTERM", () => server.close(() => process.exit(0)));
