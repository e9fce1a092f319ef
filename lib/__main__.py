import os
import sys

# One BLAS thread, before NumPy loads: a command's engine work is one thread per query
# (ingest runs processes), and OpenBLAS's spinning helper thread doubled a query's CPU.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

from lib.cli.main import main

sys.exit(main())
