"""Real local services for the demo, the benchmarks and the tests: a Mosquitto broker on a free
loopback port, a hub config writer, HTTP and SMTP sinks, broker clusters, and wait helpers.

They ship with the application so that benchmarks and tools never import `tests/`.
"""
