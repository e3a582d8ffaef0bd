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


async def handle(reader, writer):
    try:
        await reader.readuntil(b"\r\n\r\n")
        b = body()
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nConnection: close\r\n\r\n" % len(b) + b)
        await writer.drain()
    finally:
        writer.close()
        await writer.wait_closed()


async def serve(conn):
    try:
        reader, writer = await asyncio.open_connection(sock=conn)
        await handle(reader, writer)
    except (ConnectionError, asyncio.IncompleteReadError):
        pass  # the client left: nothing to answer


def listening_socket():
    sock = inherited()
    if sock is None:
        sock = socket.create_server(("127.0.0.1", int(os.environ["PORT"])))
    sock.setblocking(False)
    return sock


async def run_asyncio():
    """Accepts itself rather than through asyncio.start_server.

    asyncio's Server.close() drops a connection it accepted in the loop
    iteration before the close (CPython 3.11 here; python/cpython#109564):
    the accepted socket becomes a transport only one iteration later, the
    closed server then refuses it (an assertion, reported only in debug
    mode) and the socket is closed with the request unread, which the
    kernel answers with a reset. Here each accepted socket becomes a
    tracked task in the same callback that accepted it, and stopping
    removes that callback: nothing is accepted after the stop and nothing
    accepted is lost.
    """
    await asyncio.sleep(int(os.environ.get("WARMUP_MS", "0")) / 1000)
    loop = asyncio.get_running_loop()
    sock = listening_socket()
    conns = set()

    def accept():
        # A bounded batch, as asyncio's own accept does, so that a queue
        # that never empties cannot starve the connections already taken.
        for _ in range(100):
            try:
                conn, _ = sock.accept()
            except (BlockingIOError, InterruptedError):
                return
            except ConnectionAbortedError:
                continue
            conn.setblocking(False)
            task = loop.create_task(serve(conn))
            conns.add(task)
            task.add_done_callback(conns.discard)

    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_reader(sock, accept)
    notify_ready()
    await stop.wait()
    loop.remove_reader(sock)
    # Our copy only: the next generation and hush keep the socket open.
    sock.close()
    await asyncio.gather(*conns, return_exceptions=True)


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
