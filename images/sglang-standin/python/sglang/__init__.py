"""A stand-in for SGLang in the local real-node image: no model, no GPU, SGLang's interfaces.

`python3 -m sglang.launch_server` and `python3 -m sglang.benchmark.offline_throughput` are
stand-ins; `python3 -m sglang.benchmark.serving` runs SGLang's real module when a real SGLang
environment is mounted. See images/sglang-standin/README.md.
"""

STAND_IN = True
__version__ = "0.5.23"
