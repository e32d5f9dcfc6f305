"""Loopback fakes of the platforms the bot talks to: real HTTP servers that tests start on
127.0.0.1, port 0, which record every request and can inject faults."""
