"""Peer critical friends: matching, pairing, sharing, feedback."""
