"""Shipped detector parameters (JSON data files), fitted by `mehr train falls`."""
