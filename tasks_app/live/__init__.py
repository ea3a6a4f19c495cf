"""Live tasks: the `remote_procedure` blueprint's WebSocket, as `mephisto-task`
2.0.4 speaks it (DESIGN §5). `protocol` reads and writes its packets,
`consumer` is the socket, `functions` runs the hooks' functions off the event
loop, `batching` groups the calls' database writes. The writes themselves are
`tasks_app.services.live`."""
