#!/usr/bin/env python3
"""Run llama.cpp's HTTP server (embedded in the xllamacpp wheel) in the foreground.

The wheel has a Python API and no command line; this is the command line scripts/tiny-vlm.sh
runs. `--jinja` is on (the model's own chat template, grammar-constrained tool calls).
Start-up failures are logged by llama.cpp itself (e.g. "couldn't bind HTTP server socket")
before xllamacpp raises its generic RuntimeError; this exits with status 1 then.

usage: llama_server.py --model M.gguf [--mmproj P.gguf] [--host 127.0.0.1] [--port N]
                [--ctx-size N] [--threads N] [--parallel N] [--no-jinja]
Stops on SIGINT/SIGTERM.
"""
import argparse
import os
import signal
import sys
import threading

import xllamacpp as xlc


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--mmproj", default="")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=8080)
    ap.add_argument("--ctx-size", type=int, default=4096)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--parallel", type=int, default=1)
    ap.add_argument("--alias", default="tiny-vlm")
    ap.add_argument("--no-jinja", action="store_true")
    a = ap.parse_args()

    p = xlc.CommonParams()
    p.model.path = a.model
    if a.mmproj:
        p.mmproj.path = a.mmproj
    else:
        p.no_mmproj = True
    p.hostnames = [a.host]
    p.port = a.port
    p.n_ctx = a.ctx_size
    p.n_parallel = a.parallel
    p.use_jinja = not a.no_jinja
    p.cpuparams.n_threads = a.threads
    p.cpuparams_batch.n_threads = a.threads
    p.model_alias = {a.alias}
    p.n_gpu_layers = 0

    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGTERM, lambda *_: stop.set())

    try:
        server = xlc.Server(p)  # starts the HTTP thread; returns once listening
    except RuntimeError as e:
        print(f"llama_server: {e} (the lines above say why)", file=sys.stderr, flush=True)
        return 1
    print(f"tiny-vlm: listening on {server.listening_address}", flush=True)
    while not stop.wait(0.1):
        pass
    # no explicit Server teardown needed; the OS reclaims everything
    sys.stdout.flush(); sys.stderr.flush()
    os._exit(0)                     # skip slow interpreter teardown


if __name__ == "__main__":
    sys.exit(main())
