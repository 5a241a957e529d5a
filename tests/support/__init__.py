"""Real parts the tests run: Mosquitto on a free loopback port, helpers to wait for conditions."""
