#!/usr/bin/env python3
"""A real WebSocket peer for ferry's tunnel tests (Debian's python3-websockets).

  ws_peer.py server          echo server on 127.0.0.1, port 0; prints the port, serves until killed
  ws_peer.py client URL N    connects, sends an N-byte binary message and a text message, checks
                             both echoes byte for byte, closes with the close handshake; prints
                             "ok" and exits 0, or says what went wrong and exits 1
"""
import asyncio
import sys

import websockets


async def echo(ws, path=None):
    async for message in ws:
        await ws.send(message)


async def server():
    async with websockets.serve(echo, "127.0.0.1", 0, max_size=None) as srv:
        port = srv.sockets[0].getsockname()[1]
        print(port, flush=True)
        await asyncio.Future()


async def client(url, n):
    payload = bytes((i * 7) % 251 for i in range(n))
    async with websockets.connect(url, max_size=None, open_timeout=10, close_timeout=10) as ws:
        await ws.send(payload)
        got = await asyncio.wait_for(ws.recv(), 30)
        if got != payload:
            print("binary echo differs: %d bytes back" % len(got))
            return 1
        await ws.send("hello ferry")
        got = await asyncio.wait_for(ws.recv(), 30)
        if got != "hello ferry":
            print("text echo differs: %r" % got)
            return 1
    # leaving the block ran the close handshake; its code tells whether it completed
    if ws.close_code != 1000:
        print("close handshake: code %r" % ws.close_code)
        return 1
    print("ok")
    return 0


if __name__ == "__main__":
    if sys.argv[1] == "server":
        asyncio.run(server())
    else:
        sys.exit(asyncio.run(client(sys.argv[2], int(sys.argv[3]))))
