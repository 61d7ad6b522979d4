import net from "node:net";
import { afterEach, describe, expect, test } from "vitest";
import { createHttp1EchoServer, decodeChunked } from "./http1-echo.js";

let server: net.Server | undefined;
afterEach(() => {
  server?.close();
  server = undefined;
});

async function listen(delay?: () => number): Promise<number> {
  server = createHttp1EchoServer(delay);
  await new Promise<void>((r) => server?.listen(0, "127.0.0.1", r));
  return (server.address() as net.AddressInfo).port;
}

/** Sends raw bytes (optionally in several writes) and collects the reply until `until` matches or the socket ends. */
function exchange(port: number, writes: string[], until: (text: string) => boolean): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = "";
    const sock = net.connect(port, "127.0.0.1", async () => {
      for (const w of writes) {
        sock.write(w);
        await new Promise((r) => setTimeout(r, 20));
      }
    });
    sock.on("data", (d) => {
      text += d.toString("latin1");
      if (until(text)) {
        sock.destroy();
        resolve(text);
      }
    });
    sock.on("end", () => resolve(text));
    sock.on("error", reject);
  });
}

const count = (s: string, sub: string): number => s.split(sub).length - 1;

describe("HTTP/1.1 echo server", () => {
  test("echoes a body to fetch, and answers ok to a GET", async () => {
    const port = await listen();
    const post = await fetch(`http://127.0.0.1:${port}/x`, { method: "POST", body: "hello" });
    expect(post.status).toBe(200);
    expect(await post.text()).toBe("hello");
    expect(await (await fetch(`http://127.0.0.1:${port}/`)).text()).toBe("ok");
  });

  test("pipelined requests, split across writes, are answered in order", async () => {
    const port = await listen();
    const req = (body: string) =>
      `POST / HTTP/1.1\r\nHost: x\r\nContent-Length: ${body.length}\r\n\r\n${body}`;
    const all = req("one") + req("two") + req("three");
    const reply = await exchange(port, [all.slice(0, 30), all.slice(30, 61), all.slice(61)], (t) =>
      t.endsWith("three"),
    );
    expect(count(reply, "HTTP/1.1 200 OK")).toBe(3);
    expect(reply.indexOf("one")).toBeLessThan(reply.indexOf("two"));
    expect(reply.indexOf("two")).toBeLessThan(reply.indexOf("three"));
  });

  test("chunked request bodies are decoded", async () => {
    const port = await listen();
    const reply = await exchange(
      port,
      [
        "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n",
        "2;ext=1\r\nde\r\n0\r\n\r\n",
      ],
      (t) => t.endsWith("abcde"),
    );
    expect(reply).toContain("Content-Length: 5");
  });

  test("Expect: 100-continue gets a 100 before the body", async () => {
    const port = await listen();
    const reply = await exchange(
      port,
      ["POST / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n", "body"],
      (t) => t.endsWith("body"),
    );
    expect(reply.startsWith("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK")).toBe(true);
  });

  test("HTTP/1.0 closes unless keep-alive is asked for; Connection: close closes", async () => {
    const port = await listen();
    const r10 = await exchange(port, ["GET / HTTP/1.0\r\n\r\n"], () => false);
    expect(r10).toMatch(/^HTTP\/1\.0 200 OK[\s\S]*Connection: close[\s\S]*ok$/);
    const ka = await exchange(port, ["GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"], (t) =>
      t.endsWith("ok"),
    );
    expect(ka).toContain("Connection: keep-alive");
    const closed = await exchange(
      port,
      ["GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"],
      () => false,
    );
    expect(closed).toContain("Connection: close");
  });

  test("garbage is a 400 and the connection closes", async () => {
    const port = await listen();
    expect(await exchange(port, ["HELLO\r\n\r\n"], () => false)).toMatch(/^HTTP\/1\.1 400 Bad Request/);
  });

  test("delayed responses keep request order", async () => {
    const delays = [60, 0];
    const port = await listen(() => delays.shift() ?? 0);
    const req = (b: string) => `POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n\r\n${b}`;
    const reply = await exchange(port, [req("A") + req("B")], (t) => count(t, "200 OK") === 2);
    expect(reply.indexOf("\r\n\r\nA")).toBeLessThan(reply.indexOf("\r\n\r\nB"));
  });
});

describe("decodeChunked", () => {
  test("complete, incomplete and invalid input", () => {
    expect(decodeChunked(Buffer.from("3\r\nabc\r\n0\r\n\r\n"), 0)).toEqual({
      body: Buffer.from("abc"),
      end: 13,
    });
    expect(decodeChunked(Buffer.from("3\r\nab"), 0)).toBeNull();
    expect(decodeChunked(Buffer.from("zz\r\n"), 0)).toBe("invalid");
    expect(decodeChunked(Buffer.from("0\r\nx-t: 1\r\n\r\n"), 0)).toMatchObject({ end: 13 });
  });
});
