"""The application: the `mehr` command, the demo, the scenario runner and evaluation tools.

It sits above every other package and may import any of them; nothing imports it but the
console script, the tests and the benchmarks.
"""
