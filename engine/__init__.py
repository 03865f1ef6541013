"""Workspace config, snapshots, backends, runs, findings, actions and state."""
