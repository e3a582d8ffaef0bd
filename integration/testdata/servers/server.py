"""A small HTTP server that answers every request with its secret.

server.py asyncio   -- asyncio (epoll): hush can see it start accepting
server.py threaded  -- http.server (poll(2)): hush cannot; it needs READY=1
                       (NOTIFY=1) or --ready-delay

It accepts an inherited socket when LISTEN_FDS is set for this very
process, otherwise binds PORT. WARMUP_MS delays the start. It prints "serving
SECRET" once it accepts and handles SIGTERM; with NOTIFY=1 it then sends
READY=1 to NOTIFY_SOCKET (unless the secret ends in -never).
"""
import asyncio
import http.server
import os
import signal
import socket
import socketserver
import sys
import threading
import time

SECRET = os.environ.get("SECRET", "")
if SECRET == "crash":
    sys.exit(3)


def inherited():
    if os.environ.get("LISTEN_PID") == str(os.getpid()) and int(os.environ.get("LISTEN_FDS", "0")) >= 1:
        return socket.socket(fileno=3)
    return None


def notify_ready():
    print("serving", SECRET, flush=True)
    addr = os.environ.get("NOTIFY_SOCKET")
    # A secret ending in -never plays an app that never gets ready.
    if os.environ.get("NOTIFY") != "1" or not addr or SECRET.endswith("-never"):
        return
    if addr.startswith("@"):
        addr = "\0" + addr[1:]
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
        s.sendto(b"READY=1", addr)


def body():
    return (SECRET + "\n").encode()


ACTIVE = set()


async def handle(reader, writer):
    ACTIVE.add(asyncio.current_task())
    try:
        await reader.readuntil(b"\r\n\r\n")
        b = body()
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nConnection: close\r\n\r\n" % len(b) + b)
        await writer.drain()
    finally:
        writer.close()
        ACTIVE.discard(asyncio.current_task())


async def run_asyncio():
    await asyncio.sleep(int(os.environ.get("WARMUP_MS", "0")) / 1000)
    sock = inherited()
    if sock is not None:
        server = await asyncio.start_server(handle, sock=sock)
    else:
        server = await asyncio.start_server(handle, "127.0.0.1", int(os.environ["PORT"]))
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    notify_ready()
    await stop.wait()
    server.close()
    await server.wait_closed()
    # Python 3.11's wait_closed does not wait for the connections in
    # flight, and asyncio.run cancels them on return (the client then gets a
    # reset): finish them first, including those accepted just before the
    # close. An accepted connection takes a few loop iterations to reach
    # handle(), so count iterations rather than wall time, which a loaded
    # machine can spend before the loop runs at all.
    for _ in range(50):
        await asyncio.sleep(0)
    while ACTIVE or getattr(server, "_active_count", 0):
        await asyncio.sleep(0.01)


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        b = body()
        self.send_response(200)
        self.send_header("Content-Length", str(len(b)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(b)

    def log_message(self, *args):
        pass


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True


def run_threaded():
    time.sleep(int(os.environ.get("WARMUP_MS", "0")) / 1000)
    sock = inherited()
    if sock is not None:
        server = Server(("127.0.0.1", 0), Handler, bind_and_activate=False)
        server.socket.close()
        server.socket = sock
    else:
        server = Server(("127.0.0.1", int(os.environ["PORT"])), Handler)
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
    notify_ready()
    server.serve_forever()
    server.server_close()


if __name__ == "__main__":
    if sys.argv[1] == "asyncio":
        asyncio.run(run_asyncio())
    else:
        run_threaded()
