"""Harness of the Job Service: scenarios, runner, CLI, pytest plugin and client SDK."""
