"""One module per platform. Each translates platform events into `Incoming` and renders
`Outgoing` replies; none of them touches the store."""
