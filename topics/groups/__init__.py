"""Consumer groups: list and detail with exact lag and time lag, lag history, delete, rewind."""
